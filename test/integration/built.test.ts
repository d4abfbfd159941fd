/**
 * The built service (dist/, `npm run build`) as users start it: start-up failures are one line and a documented exit
 * status; and the bundle really works against a sandbox host — SSH (ssh2 and dockerode load lazily, src/lazy.ts),
 * a bridge, a container attached — so nothing the bundler left out shows up only in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAll } from '../../scripts/build.mjs';
import { EXIT } from '../../src/startup.js';
import { createClient } from '../../sdk/src/index.js';
import { down, up, type Sandbox } from '../testbed/sandbox.js';
import { sshHostBody } from './harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PREFIX = 'b19';

let dataDir: string;

beforeAll(async () => {
  await buildAll({ quiet: true });
  dataDir = mkdtempSync(path.join(tmpdir(), 'np-built-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs the built service with env until it exits (or 10 s); its status and what it printed. */
function startBuilt(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['dist/server.mjs'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NETPLUMB_DB: path.join(dataDir, 'x.db'), PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function expectOneLine(stderr: string, mentions: RegExp) {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^netplumb: /);
  expect(lines[0]).toMatch(mentions);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('start-up failures: one line naming what to fix, a documented exit status', () => {
  it('HOST on all interfaces without a token: configuration (78)', async () => {
    const r = await startBuilt({ HOST: '0.0.0.0' });
    expect(r.code).toBe(EXIT.config);
    expect(EXIT.config).toBe(78);
    expectOneLine(r.stderr, /NETPLUMB_TOKEN/);
  });

  it('a token that is too short: configuration (78)', async () => {
    const r = await startBuilt({ NETPLUMB_TOKEN: 'short' });
    expect(r.code).toBe(78);
    expectOneLine(r.stderr, /NETPLUMB_TOKEN.*16 characters/);
  });

  it('a port that is not a number: configuration (78)', async () => {
    const r = await startBuilt({ PORT: 'eighty' });
    expect(r.code).toBe(78);
    expectOneLine(r.stderr, /PORT/);
  });

  it('a database that cannot be created: database (73)', async () => {
    // Its directory would have to be made where a regular file is.
    const file = path.join(dataDir, 'a-file');
    writeFileSync(file, '');
    const r = await startBuilt({ NETPLUMB_DB: path.join(file, 'x.db') });
    expect(r.code).toBe(EXIT.database);
    expect(EXIT.database).toBe(73);
    expectOneLine(r.stderr, /database/);
  });

  it('a port in use: listen (69)', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as { port: number }).port;
      const r = await startBuilt({ PORT: String(port) });
      expect(r.code).toBe(EXIT.listen);
      expect(EXIT.listen).toBe(69);
      expectOneLine(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*in use`));
    } finally {
      taken.close();
    }
  });
});

describe('the built service on a sandbox Docker host', () => {
  let sb: Sandbox;
  let service: ChildProcess;
  let baseUrl: string;

  beforeAll(async () => {
    await down(PREFIX).catch(() => undefined);
    sb = await up({ prefix: PREFIX, hosts: [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }] });
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    baseUrl = `http://127.0.0.1:${port}`;
    service = spawn(process.execPath, ['--max-semi-space-size=1', 'dist/server.mjs'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), NETPLUMB_DB: path.join(dataDir, 'service.db') },
      stdio: 'ignore',
    });
    for (let i = 0; ; i++) {
      if (service.exitCode !== null) throw new Error(`the built service exited with ${service.exitCode}`);
      try {
        if ((await fetch(`${baseUrl}/healthz`)).ok) break;
      } catch {
        /* not yet */
      }
      if (i > 200) throw new Error('the built service did not answer /healthz within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 180_000);

  afterAll(async () => {
    if (service && service.exitCode === null) {
      const closed = new Promise((r) => service.once('close', r));
      service.kill('SIGTERM');
      await closed;
    }
    await sb?.down();
  }, 120_000);

  it('registers the host over SSH, builds a bridge and attaches a container', async () => {
    const np = createClient({ baseUrl });
    await sb.startWeb('docker1', 'web1', 1);
    const host = await np.hosts.create(sshHostBody(sb, 'docker1'));
    expect(host.state).toBe('ready');
    const bridge = await np.bridges.create({ host: 'docker1', name: 'ovs_bridge', type: 'ovs', addresses: ['10.11.12.1/24'] });
    expect(bridge.state).toBe('ready');
    const att = await np.attachments.create({
      bridge: bridge.id,
      target: { container: 'web1' },
      ifname: 'eth1',
      addresses: ['10.11.12.100/24'],
    });
    expect(att.state).toBe('ready');
    // The address is really inside the container: the host pings it across the OVS bridge.
    const ping = await sb.exec('docker1', ['ping', '-c', '1', '-W', '2', '10.11.12.100']);
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    // The graph export lays the network out with elkjs inside the bundle; the page's browser code comes from dist/ui.
    const svg = await (await fetch(`${baseUrl}/graph?format=svg`)).text();
    for (const name of ['docker1', 'ovs_bridge', 'web1', '10.11.12.100/24']) expect(svg).toContain(name);
    for (const [path, type] of [
      ['/ui', 'text/html'],
      ['/ui/app.css', 'text/css'],
      ['/ui/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const r = await fetch(`${baseUrl}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
    }
    const page = await fetch(`${baseUrl}/ui/app.js`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await page.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    // The OpenAPI document is built on first request (not at start-up): it still answers.
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
  }, 120_000);
});
