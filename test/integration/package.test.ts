/**
 * netplumb as users install it: `npm pack` of this checkout, then, in fresh directories outside the repository (no
 * repository on PATH; npm may use its registry and its cache):
 * - the tarball holds the built CLI and service, the OpenAPI document, the page's files, README, LICENSE, CHANGELOG;
 *   no sources, no tests; its size is printed (goal: under 2.5 MB — the bundles and their source maps, which
 *   `--enable-source-maps` uses for stack traces, are most of it);
 * - the GitHub Actions example (.github/workflows/netplumb-example.yml, through scripts/ci-example.ts) runs from the
 *   installed package: its install step `npm i`s the tarball, then `npx netplumb up … --state DIR`, status, a ping
 *   across the tunnel, `npx netplumb down`, on two light sandbox hosts (prefix pkg, members are namespaces);
 * - in that project: `npx netplumb --version` is the package version, no tsx was installed, `npx netplumb serve` on a
 *   loopback port answers /healthz with the version;
 * - `npm i -g --prefix <temp>` puts `netplumb` on PATH, and it runs from any directory.
 * npm builds better-sqlite3 from source at each install (its prebuilt binary is on GitHub, unreachable here): about
 * 1.5 min per install on 2 cores.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missing } from '../helpers/capabilities.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packTarball, pathOutsideCheckout, runCiExample, type Packed } from '../../scripts/ci-example.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PREFIX = 'pkg';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const INSTALL_TIMEOUT = 600_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...process.env, PATH: pathOutsideCheckout(), ...env }, timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('the package, installed outside the repository', () => {
  let work: string;
  let packed: Packed;
  let tarball: string;
  let project: string;
  const started: ChildProcess[] = [];

  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'netplumb-pkg-'));
    mkdirSync(path.join(work, 'pack'));
    const t0 = Date.now();
    packed = packTarball(path.join(work, 'pack'));
    tarball = path.join(work, 'pack', packed.filename);
    project = path.join(work, 'project');
    console.log(
      `npm pack: ${packed.filename}, ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(1)} MB unpacked, ` +
        `${packed.files.length} files, in ${Date.now() - t0} ms`,
    );
  }, 120_000);

  afterAll(() => {
    for (const child of started) {
      // Each was started in its own process group (npx and the node under it): end that group, by its pid.
      if (child.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the tarball: the built CLI and service, the OpenAPI document, the page, README, LICENSE; no sources, no tests; < 2.5 MB', () => {
    const files = packed.files.map((f) => f.path);
    expect(packed.filename).toBe(`netplumb-${VERSION}.tgz`);
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'bin/netplumb.mjs',
      'dist/cli.mjs',
      'dist/server.mjs',
      'dist/ui/index.html',
      'dist/ui/app.js',
      'openapi/openapi.json',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => /^(src|test|sdk|scripts|bench|node_modules)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files).not.toContain('dist/.built');
    // 2.0 MB with OIDC verification (jose) and the Docker plugin in the bundles; the guard is against sources,
    // tests or node_modules slipping in, which would multiply it.
    expect(packed.size).toBeLessThan(2_500_000);
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      private?: boolean;
      dependencies: Record<string, string>;
    };
    expect(manifest.private).toBeUndefined();
    expect(Object.keys(manifest.dependencies)).not.toContain('tsx');
  });

  it(
    'the CI example from the installed package: npm i the tarball, npx netplumb up --state, status, ping, down',
    async () => {
      const t0 = Date.now();
      const { ok, steps } = await runCiExample({ prefix: PREFIX, packageFile: tarball, projectDir: project, env: { JOBS: 'max' } });
      console.log(`the workflow's steps in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      // Its GitHub actions (checkout, setup-node) are what the test below is about.
      expect(steps.filter((s) => /^actions\//.test(s.name)).map((s) => s.name)).toEqual(['actions/checkout@v4', 'actions/setup-node@v4']);
      const byName = (re: RegExp) => steps.find((s) => re.test(s.name));
      expect(
        steps.filter((s) => s.status === 'failed').map((s) => s.name),
        steps.map((s) => `== ${s.name}: ${s.status}\n${s.output}`).join('\n'),
      ).toEqual([]);
      expect(ok).toBe(true);
      expect(byName(/^Install netplumb/)?.status).toBe('ok');
      expect(byName(/^Network up/)?.output).toMatch(/applied ci-\d+: ready/);
      expect(byName(/^Tests across the network/)?.output).toMatch(/3 received/);
      expect(byName(/^Network down/)?.status).toBe('ok');
      // The installed package, not this checkout: a real directory in the project's node_modules, no sources in it.
      const installed = path.join(project, 'node_modules/netplumb');
      expect(existsSync(path.join(installed, 'dist/cli.mjs'))).toBe(true);
      expect(existsSync(path.join(installed, 'src'))).toBe(false);
      expect(existsSync(path.join(project, 'node_modules/tsx'))).toBe(false);
      expect(existsSync(path.join(project, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    },
    INSTALL_TIMEOUT,
  );

  // The workflow's two GitHub actions need a GitHub Actions runner; there, what they leave behind is checked.
  it.skipIf(
    missing(
      "the CI example's GitHub actions (actions/checkout, actions/setup-node)",
      process.env.GITHUB_ACTIONS === 'true',
      "no GitHub Actions runner here; the machine's Node ran the other steps",
    ),
  )("the CI example's GitHub actions: the checkout is the workspace, setup-node's Node 24 is the one on PATH", () => {
    const workspace = process.env.GITHUB_WORKSPACE ?? '';
    expect(existsSync(path.join(workspace, '.github/workflows/netplumb-example.yml'))).toBe(true);
    expect(process.versions.node.split('.')[0]).toBe('24');
  });

  it('installed: npx netplumb --version, and npx netplumb serve answers /healthz with the version', async () => {
    expect(existsSync(path.join(project, 'node_modules/.bin/netplumb')), 'the previous test installs the package').toBe(true);
    // npx takes a --version of its own (npm's): `npx netplumb version`, or `npx -- netplumb --version`
    for (const args of [
      ['netplumb', 'version'],
      ['--', 'netplumb', '--version'],
      ['--', 'netplumb', '-V'],
    ]) {
      const r = await run('npx', ['--no', ...args], project);
      expect(r, args.join(' ')).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    }
    const help = await run('npx', ['--no', '--', 'netplumb', '--help'], project);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}serve /m);

    const child = spawn('npx', ['--no', 'netplumb', 'serve'], {
      cwd: project,
      detached: true,
      env: {
        ...process.env,
        PATH: pathOutsideCheckout(),
        HOST: '127.0.0.1',
        PORT: '0',
        NETPLUMB_DB: path.join(work, 'serve.db'),
        NETPLUMB_RECONCILE: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(child);
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line in 30 s:\n${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /netplumb listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`netplumb serve exited (${code}):\n${out}`)));
    });
    const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; version: string };
    expect(health).toMatchObject({ status: 'ok', version: VERSION });
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as { info: { version: string } };
    expect(spec.info.version).toBe(VERSION);
    const ui = await fetch(`${url}/ui/`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
    expect((await fetch(`${url}/ui/app.js`)).status).toBe(200); // dist/ui/app.js: no esbuild at run time
    // SIGTERM to its process group (npx and the service under it): the service drains and exits. Its output ends when
    // the last process writing to the pipe is gone: the service too, not only npx.
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    process.kill(-child.pid!, 'SIGTERM');
    await closed;
    expect(out).toMatch(/SIGTERM: draining/);
    const gone = () => {
      try {
        process.kill(-child.pid!, 0);
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(gone(), 'no process of the group is left').toBe(true);
  }, 60_000);

  it(
    'npm i -g (a temporary prefix) puts netplumb on PATH; it runs from any directory',
    async () => {
      const prefix = path.join(work, 'global');
      const t0 = Date.now();
      const install = await run(
        'npm',
        ['i', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball],
        work,
        { JOBS: 'max' },
        INSTALL_TIMEOUT,
      );
      expect(install.code, install.stderr).toBe(0);
      console.log(`npm i -g ${packed.filename}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const PATH = `${path.join(prefix, 'bin')}:${pathOutsideCheckout()}`;
      const which = await run('sh', ['-c', 'command -v netplumb'], '/', { PATH });
      expect(which.stdout.trim()).toBe(path.join(prefix, 'bin/netplumb'));
      for (const dir of ['/', os.tmpdir(), project]) {
        const r = await run('netplumb', ['--version'], dir, { PATH });
        expect(r, dir).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
      }
      // a command that needs the service: a clear "unreachable" (exit 3), not a missing module
      const status = await run('netplumb', ['status', '--server', 'http://127.0.0.1:9'], '/', { PATH });
      expect(status.code, status.stderr).toBe(3);
      expect(status.stderr).toMatch(/cannot reach/);
    },
    INSTALL_TIMEOUT,
  );
});
