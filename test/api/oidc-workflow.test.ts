/**
 * The shared-service GitHub Actions example (.github/workflows/netplumb-shared-service.yml), its own steps read from
 * the file and run in bash as a runner would: the job's ID token fetched from ACTIONS_ID_TOKEN_REQUEST_URL (here a
 * local stand-in for GitHub's issuer, keys made by jose) is the CLI's bearer. The service (fake hosts) plans and
 * applies the topology named inside the rule's `ci-{repository}-*`, refuses one outside it, and destroys it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { serveApp } from '../../src/listen.js';
import { localHost, testApp } from '../helpers/app.js';

const ROOT = join(import.meta.dirname, '../..');
const WORKFLOW = join(ROOT, '.github/workflows/netplumb-shared-service.yml');
const REQUEST_TOKEN = 'request-token-for-this-job';

let issuer: Server;
let issuerUrl = '';
let dir = '';

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'gh1', alg: 'RS256' };
  issuer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuerUrl);
    res.setHeader('Content-Type', 'application/json');
    if (url.pathname === '/.well-known/openid-configuration')
      return res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks` }));
    if (url.pathname === '/jwks') return res.end(JSON.stringify({ keys: [jwk] }));
    // ACTIONS_ID_TOKEN_REQUEST_URL: the runner's request token in, the job's ID token (for `audience`) out.
    if (url.pathname === '/token' && req.headers.authorization === `bearer ${REQUEST_TOKEN}`)
      return void new SignJWT({ repository: 'Org/Repo', ref: 'refs/heads/main' })
        .setProtectedHeader({ alg: 'RS256', kid: 'gh1' })
        .setSubject('repo:Org/Repo:ref:refs/heads/main')
        .setIssuer(issuerUrl)
        .setAudience(url.searchParams.get('audience') ?? '')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey)
        .then((value) => res.end(JSON.stringify({ value })));
    res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
  issuerUrl = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'np-oidc-workflow-'));
});
afterAll(async () => {
  await new Promise((r) => issuer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const steps = () =>
  (parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: { e2e: { steps: { name?: string; run?: string }[] } } }).jobs.e2e.steps;
const step = (prefix: string) =>
  steps()
    .find((s) => s.name?.startsWith(prefix))!
    .run!.replaceAll('npx netplumb', `node ${ROOT}/bin/netplumb.mjs`);

function bash(script: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/** The steps run `curl` and `bash`, as a runner has them. */
const HAS_CURL = (() => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!HAS_CURL)('the shared-service workflow with the job ID token (needs curl)', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let server: ServerType;
  let env: Record<string, string> = {};
  beforeAll(async () => {
    t = await testApp({
      token: 'bootstrap-token-0123456789',
      config: {
        oidc: [
          {
            name: 'github',
            issuer: issuerUrl,
            audience: 'netplumb',
            rules: [{ claims: { repository: 'Org/Repo' }, scopes: ['write'], topologies: ['ci-{repository}-*'] }],
          },
        ],
      },
    });
    for (const [name, ip] of [
      ['docker1', '10.10.10.101'],
      ['docker3', '192.168.50.101'],
    ] as const)
      expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
    await new Promise<void>((resolve) => {
      server = serveApp(t.app, { port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    const githubEnv = join(dir, 'github_env');
    writeFileSync(githubEnv, '');
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      GITHUB_ENV: githubEnv,
      GITHUB_REPOSITORY: 'Org/Repo',
      GITHUB_RUN_NUMBER: '7',
      NETPLUMB_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AUDIENCE: 'netplumb',
      ACTIONS_ID_TOKEN_REQUEST_URL: `${issuerUrl}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    };
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('names the topology inside the prefix, applies it as the CI identity, and destroys it; another name is refused', async () => {
    const slug = await bash(step('Topology name'), env);
    expect(slug.code).toBe(0);
    const topology = /^TOPOLOGY=(.*)$/m.exec(readFileSync(env.GITHUB_ENV!, 'utf8'))![1]!;
    expect(topology).toBe('ci-org-repo-7');

    const up = await bash(step('Network up'), { ...env, TOPOLOGY: topology });
    expect(up.out).toMatch(/::add-mask::ey/); // the ID token is masked in the log
    expect(up.code, up.out).toBe(0);
    const jobs = (await (
      await t.json('GET', `/jobs?principal=${encodeURIComponent('github:repo:Org/Repo:ref:refs/heads/main')}`)
    ).json()) as {
      items: { kind: string; status: string; principal: { claims: Record<string, string> } }[];
    };
    expect(jobs.items.map((j) => `${j.kind} ${j.status}`)).toEqual(['topology.create succeeded']);
    expect(jobs.items[0]!.principal.claims).toEqual({ sub: 'repo:Org/Repo:ref:refs/heads/main', repository: 'Org/Repo' });

    const outside = await bash(step('Network up'), { ...env, TOPOLOGY: 'prod-net' });
    expect(outside.code).toBe(2);
    expect(outside.out).toMatch(
      /403\): the topology prod-net is outside what github:repo:Org\/Repo:ref:refs\/heads\/main may change \(ci-org-repo-\*\)/,
    );

    const down = await bash(step('Network down'), { ...env, TOPOLOGY: topology });
    expect(down.code, down.out).toBe(0);
    expect((await t.json('GET', `/topologies/${topology}`)).status).toBe(404);
  });
});
