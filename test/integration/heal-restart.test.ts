/**
 * kill -9 of the service mid-job (the service as its own process, as in production): at the next start the job is
 * interrupted and its record `unknown`; a re-POST of the same request with a new Idempotency-Key converges onto it;
 * with the reconcile loop on, an interrupted create is finished (or undone) by itself, leaving no orphan.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Sandbox } from '../testbed/sandbox.js';
import { sshHostBody } from './harness.js';

const HOST = 'docker1';
let sb: Sandbox;
let dir: string;
let service: ChildProcess | null = null;
let base = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startService(reconcile: 'on' | 'off'): Promise<void> {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      NETPLUMB_DB: path.join(dir, 'np.db'),
      NETPLUMB_RECONCILE: reconcile,
      NETPLUMB_RECONCILE_INTERVAL_S: '2',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  service = child;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    if (i > 300 || child.exitCode !== null) throw new Error('the service did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function killService(signal: NodeJS.Signals): Promise<void> {
  const child = service;
  service = null;
  if (!child || child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined | false>, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const vswitchd = () => Number(readFileSync(path.join(sb.host(HOST).ovsRundir, 'ovs-vswitchd.pid'), 'utf8').trim());

/** POSTs a bridge, and kill -9s the service while its job waits on the host (ovs-vswitchd stopped). */
async function killMidCreate(body: { host: string; name: string; addresses: string[] }): Promise<string> {
  process.kill(vswitchd(), 'SIGSTOP');
  try {
    const r = await call('POST', '/bridges', body, { Prefer: 'respond-async', 'Idempotency-Key': `first-${body.name}` });
    expect(r.status).toBe(202);
    await until(
      'the row on the host',
      10_000,
      async () => (await sb.exec(HOST, ['ovs-vsctl', '--timeout=2', 'br-exists', body.name])).exitCode === 0,
    );
    await killService('SIGKILL');
    return r.body.job.id as string;
  } finally {
    process.kill(vswitchd(), 'SIGCONT');
  }
}

beforeAll(async () => {
  await down('h14c').catch(() => undefined);
  sb = await up({ prefix: 'h14c', hosts: [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }], withDocker: false });
  dir = mkdtempSync(path.join(tmpdir(), 'np-h14c-'));
  await startService('off');
  expect((await call('POST', '/hosts', sshHostBody(sb, HOST))).status).toBe(201);
}, 180_000);

afterAll(async () => {
  await killService('SIGTERM');
  await sb?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 of the service mid-job', () => {
  it('restart → the record is unknown and the job interrupted; a re-POST with a new key converges onto it', async () => {
    const body = { host: HOST, name: 'brk1', addresses: ['10.96.0.1/24'] };
    const jobId = await killMidCreate(body);
    await startService('off');
    expect((await call('GET', `/jobs/${jobId}`)).body.status).toBe('interrupted');
    const br = (await call('GET', `/bridges/${HOST}/brk1`)).body;
    expect(br.state).toBe('unknown');
    const again = await call('POST', '/bridges', body, { 'Idempotency-Key': 'second-brk1' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ id: br.id, state: 'ready', job: { kind: 'bridge.repair' } });
    const o = (await call('GET', `/bridges/${br.id}?observe=true`)).body.observed;
    expect(o).toMatchObject({ exists: true, owner: br.id, addresses: ['10.96.0.1/24'], drift: [] });
    expect((await call('DELETE', `/bridges/${br.id}`)).status).toBe(204);
    await killService('SIGTERM');
  });

  it('restart with the reconcile loop on → the interrupted create is finished (or undone) by itself, no orphan', async () => {
    await startService('off');
    const body = { host: HOST, name: 'brk2', addresses: ['10.95.0.1/24'] };
    await killMidCreate(body);
    await startService('on');
    const end = await until('resolved by the loop', 30_000, async () => {
      const r = await call('GET', `/bridges/${HOST}/brk2`);
      if (r.status === 404) return { gone: true };
      return r.body.state === 'ready' && r.body;
    });
    console.log(`[h14c] after the restart the loop left brk2 ${'gone' in end ? 'removed' : 'ready'}`);
    expect((await call('GET', `/hosts/${HOST}/orphans`)).body.items).toEqual([]);
    const resolve = (await call('GET', '/jobs?kind=host.resolve')).body.items;
    expect(resolve.length).toBeGreaterThan(0);
    expect(resolve[0].status).toBe('succeeded');
    if (!('gone' in end)) {
      const o = (await call('GET', `/bridges/${end.id}?observe=true`)).body.observed;
      expect(o.drift).toEqual([]);
      expect((await call('DELETE', `/bridges/${end.id}`)).status).toBe(204);
    }
  });
});
