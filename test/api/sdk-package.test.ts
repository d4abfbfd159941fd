/**
 * The SDK as its users get it (issue 13): built and packed by `npm pack` (its prepack builds sdk/dist), installed from
 * the tarball into a scratch project outside the repository, then used from plain `node` (.mjs, and require() from
 * .cjs) and from TypeScript compiled by the repository's tsc under the strictest settings a consumer may use, against
 * the test service (fake executor) on loopback.
 *
 * No network: the SDK's runtime dependencies (and @types/node for the TypeScript consumer) are packed from the
 * repository's own node_modules and installed as tarballs beside it, with `--offline` and a private npm cache. If
 * sdk/package.json asked for an openapi-fetch the root lock does not have, npm would have to ask the registry and
 * the install fails (ENOTCACHED): the declared range is checked against the lock too.
 */
import { serve, type ServerType } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app.js';
import { testPrivateKey } from '../helpers/keys.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'sdk-package-token-0123456789';
const HOST_KEY = 'SHA256:' + 'A'.repeat(43);

/** npm with nothing from the caller's npm run (npm_* variables) or ~/.npmrc, no network, a throwaway cache. */
function npmEnv(scratch: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return {
    ...env,
    npm_config_cache: join(scratch, 'npm-cache'),
    npm_config_userconfig: join(scratch, 'no-npmrc'),
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_loglevel: 'error',
  };
}

/** The packages `names` need at run time, found in the repository's node_modules (npm's flat layout first). */
function dependencyClosure(names: string[]): string[] {
  const dirs = new Map<string, string>();
  const visit = (name: string, from: string) => {
    if (dirs.has(name)) return;
    const dir = [join(from, 'node_modules', name), join(REPO, 'node_modules', name)].find((d) => {
      try {
        return readFileSync(join(d, 'package.json')).length > 0;
      } catch {
        return false;
      }
    });
    if (!dir) throw new Error(`${name} is not in node_modules: run npm ci`);
    dirs.set(name, dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir);
  };
  for (const n of names) visit(n, REPO);
  return [...dirs.values()];
}

/** `npm pack --json` → the tarballs' file names and contents. */
async function pack(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ filename: string; files: { path: string }[] }[]> {
  const { stdout } = await run('npm', ['pack', '--json', ...args], { cwd, env, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
}

const APP_MJS = `
import { createClient, NetplumbError } from '@netplumb/sdk';
const [baseUrl, token] = process.argv.slice(2);
const np = createClient({ baseUrl, token });
const host = await np.hosts.create({ name: 'mjs1', executor: { kind: 'local' } });
const page = await np.hosts.list();
const missing = await np.hosts.get('nope').catch((e) => e);
console.log(JSON.stringify({
  created: host.name, state: host.state, job: host.job.status, listed: page.items.map((h) => h.name),
  error: missing instanceof NetplumbError ? missing.type : String(missing),
}));
`;

const APP_CJS = `
const { createClient, NetplumbError } = require('@netplumb/sdk');
console.log(JSON.stringify({ createClient: typeof createClient, NetplumbError: typeof NetplumbError }));
`;

/** Strict settings a consumer may well have; skipLibCheck off so the SDK's .d.ts files are checked too. */
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noPropertyAccessFromIndexSignature: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    erasableSyntaxOnly: true,
    skipLibCheck: false,
    skipDefaultLibCheck: true,
    noEmitOnError: true,
    outDir: 'out',
  },
  files: ['consumer.ts'],
};

const CONSUMER_TS = `
import {
  createClient,
  NetplumbError,
  type Bridge,
  type Host,
  type Job,
  type ProblemType,
  type TopologyPlan,
} from '@netplumb/sdk';

const [baseUrl = '', keyPath = '', deadUrl = ''] = process.argv.slice(2);
const np = createClient({ baseUrl, token: process.env['NETPLUMB_TOKEN'] });

// Defaults left out: port and user (ssh), type/datapathType/addresses/stp/adopt/labels (bridge).
const host: Host = await np.hosts.create({
  name: 'ts1',
  executor: { kind: 'ssh', address: '192.0.2.10', hostKeySha256: '${HOST_KEY}', privateKeyPath: keyPath },
});
const created = await np.bridges.create({ host: host.name, name: 'br_ts' });
const bridge: Bridge = created;
// A mutation resolves with its job, always (a 202 is followed to the job's end): no \`?.\`, no \`!\`.
const job: Job = created.job;
const raw = await np.api.POST('/bridges', { body: { host: 'ts1', name: 'br_raw' } });
// What always comes back is required in the answers.
const port: number = host.executor.kind === 'ssh' ? host.executor.port : 0;
const stp: boolean = bridge.stp;
// Pictures are text.
const picture: string = await np.graph.get({ format: 'mermaid' });

// Type-checked only, never called: the other request bodies without their defaults, and what they resolve with.
async function typesOnly(): Promise<void> {
  await np.attachments.create({ bridge: 'ts1/br_ts', target: { container: 'web1' } });
  await np.tunnels.create({ type: 'gre', endpoints: [{ bridge: 'ts1/br_ts' }, { bridge: 'ts2/br_ts' }] });
  await np.topologies.plan('t', { networks: { web: { members: [{ host: 'ts1', container: 'web1' }] } } });
  const applied = await np.topologies.apply('t', { networks: { web: { members: [{ host: 'ts1', container: 'web1' }] } } });
  const plan: TopologyPlan = applied.plan;
  const appliedJob: Job = applied.job;
  const dot: string = await np.topologies.graph('t', { format: 'dot' });
  void [plan, appliedJob, dot];
  // @ts-expect-error a bridge has no default name: this must not compile
  await np.bridges.create({ host: 'ts1' });
  const e = new NetplumbError(0, { type: 'about:blank', title: 't', status: 0, detail: 'd' });
  // @ts-expect-error not a problem type the service declares: the comparison cannot be true
  if (e.problem.type === 'https://netplumb.dev/problems/no-such-problem') throw e;
}
void typesOnly;

let error = '';
let existing = '';
let jobFailed = true;
try {
  await np.bridges.create({ host: 'ts1', name: 'br_ts' });
} catch (e) {
  if (e instanceof NetplumbError) {
    const type: ProblemType | 'about:blank' = e.type;
    error = type;
    jobFailed = e.jobFailed;
    // Narrowed by its type, a problem's members are typed: a conflict names the resource that exists.
    if (e.problem.type === 'https://netplumb.dev/problems/conflict') existing = e.problem.existing ?? '';
  }
}

// No answer at all: the SDK's error (status 0) with the platform's as its cause, not a raw TypeError.
let unreachable = '';
try {
  await createClient({ baseUrl: deadUrl, retries: 0 }).hosts.list();
} catch (e) {
  if (e instanceof NetplumbError && e.transport) unreachable = e.cause instanceof Error ? e.cause.name : 'no cause';
}

console.log(
  JSON.stringify({
    host: host.name,
    port,
    user: host.executor.kind === 'ssh' ? host.executor.user : '',
    bridge: bridge.name,
    type: bridge.type,
    stp,
    job: job.status,
    raw: raw.response.status,
    error,
    existing: existing === bridge.id,
    jobFailed,
    unreachable,
    picture: picture.split('\\n')[0],
  }),
);
`;

describe('the SDK as a package: npm pack, installed offline outside the repo, used from plain node and strict TypeScript', async () => {
  const t = await testApp({ token: TOKEN });
  let server: ServerType | undefined;
  let baseUrl = '';
  let scratch = '';
  let app = '';
  let env: NodeJS.ProcessEnv = {};
  let sdkFiles: string[] = [];

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'np-sdk-package-'));
    expect(relative(REPO, scratch).startsWith('..'), 'the scratch project lies outside the repository').toBe(true);
    env = npmEnv(scratch);
    const tarballs = join(scratch, 'tarballs');
    app = join(scratch, 'app');
    mkdirSync(tarballs);
    mkdirSync(app);
    await new Promise<void>((resolve) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    baseUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;

    // The SDK: its prepack builds dist/. Then what it (and the typed consumer) needs, packed as installed here.
    const [sdk] = await pack(['--pack-destination', tarballs], join(REPO, 'sdk'), env);
    sdkFiles = sdk!.files.map((f) => f.path).sort();
    const sdkDeps = Object.keys(
      (JSON.parse(readFileSync(join(REPO, 'sdk/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies,
    );
    const deps = await pack(
      ['--ignore-scripts', '--pack-destination', tarballs, ...dependencyClosure([...sdkDeps, '@types/node'])],
      REPO,
      env,
    );

    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sdk-consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--ignore-scripts', ...[sdk!, ...deps].map((p) => join(tarballs, p.filename))], {
      cwd: app,
      env,
    });
    writeFileSync(join(app, 'app.mjs'), APP_MJS);
    writeFileSync(join(app, 'app.cjs'), APP_CJS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(app, 'id_test'), testPrivateKey(), { mode: 0o600 });
  }, 120_000);

  afterAll(async () => {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('the tarball holds the built package: JavaScript, declarations, the README; no sources', () => {
    expect(sdkFiles).toEqual(['README.md', 'dist/index.d.ts', 'dist/index.js', 'dist/index.js.map', 'dist/schema.d.ts', 'package.json']);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/@netplumb/sdk/package.json'), 'utf8'));
    expect(installed.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js' });
  });

  it('plain node runs an .mjs consumer: registers a host, lists it, gets a typed error', async () => {
    const { stdout } = await run(process.execPath, ['app.mjs', baseUrl, TOKEN], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({
      created: 'mjs1',
      state: 'ready',
      job: 'succeeded',
      listed: ['mjs1'],
      error: 'https://netplumb.dev/problems/not-found',
    });
  });

  it('require() loads it too (Node >= 20.19 loads the ESM build)', async () => {
    const { stdout } = await run(process.execPath, ['app.cjs'], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({ createClient: 'function', NetplumbError: 'function' });
  });

  it('a strict TypeScript consumer compiles without the defaulted fields, a wrong call does not, and it runs (issue 27: job, plan, graph, problem types and members, transport errors; no cast, no !)', async () => {
    // tsc fails on an unused @ts-expect-error (TS2578): passing proves the bad call is an error, so the types are real.
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch((e: Error & { stdout?: string }) => {
      throw new Error(`tsc failed:\n${e.stdout || e.message}`);
    });
    // A port nothing listens on any more, for the unreachable case.
    const dead = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const { stdout } = await run(process.execPath, ['out/consumer.js', baseUrl, join(app, 'id_test'), `http://127.0.0.1:${dead}`], {
      cwd: app,
      env: { ...process.env, NETPLUMB_TOKEN: TOKEN },
    });
    expect(JSON.parse(stdout)).toEqual({
      host: 'ts1',
      port: 22,
      user: 'root',
      bridge: 'br_ts',
      type: 'ovs',
      stp: false,
      job: 'succeeded',
      raw: 201,
      error: 'https://netplumb.dev/problems/conflict',
      existing: true,
      jobFailed: false,
      unreachable: 'TypeError',
      picture: 'flowchart LR',
    });
    // A whole tsc run: 26 s alone on a 2-core machine shared with other runs, over 30 s inside the whole suite there.
  }, 120_000);
});
