/**
 * Faults on a light sandbox host (OVS and sshd, no dockerd), the service in-process: a probe while sshd is down marks
 * the host failed, creates answer 502 host-unreachable (Retry-After) with no job, and the reconcile loop re-probes it
 * by itself; the SSH session killed mid-create → the record stays `unknown`, then the loop resolves it to `ready`
 * with no orphan; orphans (marked objects without a record) are listed and removed, unmarked ones left alone.
 * Issue 24's drills: a repair and a DELETE of one attachment racing, 20 times (one job per resource: nothing left);
 * the service as its own process stopped with SIGTERM while a job is held on the host (bounded shutdown).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Reconciler } from '../../src/reconcile/loop.js';
import { sshHostBody, startWorld, type World } from './harness.js';
import { startReplica, type Replica } from '../helpers/replica-procs.js';

let w: World;
let loop: Reconciler | null = null;
const HOST = 'docker1';

async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${w.baseUrl}${p}`, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
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

const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());
const vswitchd = () => pidIn(path.join(w.sb.host(HOST).ovsRundir, 'ovs-vswitchd.pid'));

/** Kills every SSH session on the host (the per-connection sshd processes under its master), as a dropped link would. */
async function killSshSessions(): Promise<number> {
  const master = pidIn(w.sb.host(HOST).sshdPidFile);
  const kids = (await w.sb.exec(HOST, ['ps', '-o', 'pid=', '--ppid', String(master)])).stdout
    .split('\n')
    .map(Number)
    .filter((n) => n > 0);
  for (const pid of kids) process.kill(pid, 'SIGKILL');
  return kids.length;
}

beforeAll(async () => {
  w = await startWorld('h14b', [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }], { withDocker: false });
  await w.registerHosts();
}, 180_000);

afterEach(async () => {
  await loop?.stop();
  loop = null;
  try {
    process.kill(vswitchd(), 'SIGCONT');
  } catch {
    /* already running, or gone */
  }
  await w.sb.startSshd(HOST);
});

afterAll(async () => {
  await w?.close();
});

describe('hosts recover by themselves', () => {
  it('sshd down: probe → failed; a create answers 502 host-unreachable with Retry-After and runs no job; sshd back → re-probed by the loop, creates work', async () => {
    await w.sb.stopSshd(HOST);
    await w.deps.hosts.closeAll();
    const probe = await call('POST', `/hosts/${HOST}/probe`);
    expect(probe.status).toBe(502);
    expect((await call('GET', `/hosts/${HOST}`)).body.state).toBe('failed');
    const jobsBefore = (await call('GET', '/jobs?limit=500')).body.items.length;
    const create = await call('POST', '/bridges', { host: HOST, name: 'brx', addresses: ['10.99.0.1/24'] });
    expect(create.status).toBe(502);
    expect(create.body.type).toBe('https://netplumb.dev/problems/host-unreachable');
    expect(Number(create.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call('GET', '/jobs?limit=500')).body.items.length).toBe(jobsBefore);

    loop = new Reconciler(w.deps, { intervalMs: 0, tickMs: 200, reprobeMinMs: 300, reprobeMaxMs: 1000, log: () => {} }).start();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await call('GET', `/hosts/${HOST}`)).body.state).toBe('failed'); // still down: re-probed, still failed
    await w.sb.startSshd(HOST);
    await until('host ready again', 15_000, async () => (await call('GET', `/hosts/${HOST}`)).body.state === 'ready');
    const reprobes = (await call('GET', '/jobs?kind=host.probe&limit=500')).body.items.length;
    expect(reprobes).toBeGreaterThanOrEqual(3); // the one by hand, at least one failed re-probe, the one that worked
    const ok = await call('POST', '/bridges', { host: HOST, name: 'brx', addresses: ['10.99.0.1/24'] });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((await call('DELETE', `/bridges/${ok.body.id}`)).status).toBe(204);
  });
});

describe('unknown outcome is a state', () => {
  it('SSH session killed mid-create → the record stays unknown; once the host answers the loop finishes it → ready, no orphan', async () => {
    // ovs-vsctl writes the bridge into the database, then waits for ovs-vswitchd: stopped, it holds the step there.
    process.kill(vswitchd(), 'SIGSTOP');
    const r = await call('POST', '/bridges', { host: HOST, name: 'brk', addresses: ['10.98.0.1/24'] }, { Prefer: 'respond-async' });
    expect(r.status).toBe(202);
    await until(
      'the bridge row written on the host',
      10_000,
      async () => (await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=2', 'br-exists', 'brk'])).exitCode === 0,
    );
    expect(await killSshSessions()).toBeGreaterThan(0);
    const job = await until('the job to end', 20_000, async () => {
      const j = (await call('GET', `/jobs/${r.body.job.id}`)).body;
      return j.status !== 'running' && j.status !== 'queued' && j;
    });
    expect(job.status).toBe('failed');
    expect(job.error.type).toBe('https://netplumb.dev/problems/host-unreachable');
    const br = (await call('GET', `/bridges/${HOST}/brk`)).body;
    expect(br.state).toBe('unknown');
    // The host has it, marked with the record's id (the command finished after the failure was reported).
    const mark = await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=2', 'br-get-external-id', 'brk', 'netplumb-id']);
    expect(mark.stdout.trim()).toBe(br.id);

    process.kill(vswitchd(), 'SIGCONT');
    loop = new Reconciler(w.deps, { intervalMs: 0, tickMs: 200, log: () => {} }).start();
    const done = await until('resolved', 20_000, async () => {
      const x = await call('GET', `/bridges/${br.id}?observe=true`);
      return x.status === 404 ? { gone: true } : x.body.state === 'ready' && x.body;
    });
    expect(done).toMatchObject({ state: 'ready', observed: { exists: true, owner: br.id, addresses: ['10.98.0.1/24'], drift: [] } });
    const resolve = (await call('GET', `/jobs?kind=host.resolve`)).body.items;
    expect(resolve[0].status).toBe('succeeded');
    expect((await call('GET', `/hosts/${HOST}/orphans`)).body.items).toEqual([]);
    expect((await call('DELETE', `/bridges/${br.id}`)).status).toBe(204);
  });

  it('a re-POST of the same request converges onto an unknown record instead of 409', async () => {
    process.kill(vswitchd(), 'SIGSTOP');
    const body = { host: HOST, name: 'brr', addresses: ['10.97.0.1/24'] };
    const r = await call('POST', '/bridges', body, { Prefer: 'respond-async' });
    await until(
      'row written',
      10_000,
      async () => (await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=2', 'br-exists', 'brr'])).exitCode === 0,
    );
    await killSshSessions();
    await until('job ended', 20_000, async () => (await call('GET', `/jobs/${r.body.job.id}`)).body.status === 'failed');
    process.kill(vswitchd(), 'SIGCONT');
    const again = await call('POST', '/bridges', body, { 'Idempotency-Key': 'h14b-new-key' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ name: 'brr', state: 'ready', job: { kind: 'bridge.repair' } });
    // A different request for that name is still a conflict.
    expect((await call('POST', '/bridges', { ...body, addresses: ['10.97.0.2/24'] })).status).toBe(409);
    expect((await call('DELETE', `/bridges/${again.body.id}`)).status).toBe(204);
  });
});

describe('orphans', () => {
  it('marked objects without a record are listed and removed; unmarked ones are left alone', async () => {
    const x = (argv: string[]) => w.sb.exec(HOST, argv);
    await x([
      'ovs-vsctl',
      '--timeout=10',
      'add-br',
      'orph',
      '--',
      'set',
      'Bridge',
      'orph',
      'datapath_type=netdev',
      'external_ids:netplumb-id=br_gone000000000000000000',
    ]);
    await x(['ovs-vsctl', '--timeout=10', 'add-br', 'handmade', '--', 'set', 'Bridge', 'handmade', 'datapath_type=netdev']);
    await x(['ip', 'link', 'add', 'npo1', 'type', 'veth', 'peer', 'name', 'npo2']);
    await x(['ip', 'link', 'set', 'dev', 'npo1', 'alias', 'netplumb:att_gone00000000000000000']);
    try {
      const list = (await call('GET', `/hosts/${HOST}/orphans`)).body.items;
      expect(list).toEqual(
        expect.arrayContaining([
          { kind: 'ovs-bridge', name: 'orph', owner: 'br_gone000000000000000000' },
          { kind: 'link', name: 'npo1', owner: 'att_gone00000000000000000' },
        ]),
      );
      expect(list.map((o: { name: string }) => o.name)).not.toContain('handmade');
      const del = await call('DELETE', `/hosts/${HOST}/orphans`);
      expect(del.status, JSON.stringify(del.body)).toBe(200);
      expect(del.body.removed.map((o: { name: string }) => o.name).sort()).toEqual(['npo1', 'orph']);
      expect((await call('GET', `/hosts/${HOST}/orphans`)).body.items).toEqual([]);
      expect((await x(['ovs-vsctl', '--timeout=2', 'br-exists', 'handmade'])).exitCode).toBe(0);
      expect((await x(['ip', 'link', 'show', 'dev', 'npo2'])).exitCode).not.toBe(0);
    } finally {
      await x(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'handmade']);
      await x(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'orph']);
      await x(['ip', 'link', 'del', 'dev', 'npo1']);
    }
  });
});

describe('one job per resource at a time', () => {
  it('repair and DELETE racing (0–95 ms apart), 20 times: the DELETE runs after the repair, and no port, link or record is left', async () => {
    const NS = 'hfrace';
    const x = (argv: string[]) => w.sb.exec(HOST, argv);
    expect((await w.ssh(HOST, ['ip', 'netns', 'add', NS])).exitCode).toBe(0);
    const br = await call('POST', '/bridges', { host: HOST, name: 'br_race', addresses: ['10.66.0.1/24'] });
    expect(br.status, JSON.stringify(br.body)).toBe(201);
    try {
      for (let i = 0; i < 20; i++) {
        const a = await call('POST', '/attachments', {
          bridge: `${HOST}/br_race`,
          target: { netns: NS },
          addresses: [`10.66.0.${10 + i}/24`],
        });
        expect(a.status, JSON.stringify(a.body)).toBe(201);
        // The host end is gone (by hand): the repair has real work to do (a veth made again, a port added).
        expect((await x(['ip', 'link', 'del', 'dev', a.body.hostIfname])).exitCode).toBe(0);
        const repair = await call('POST', `/attachments/${a.body.id}/repair`, undefined, { Prefer: 'respond-async' });
        expect(repair.status, JSON.stringify(repair.body)).toBe(202);
        await new Promise((r) => setTimeout(r, (i * 5) % 100));
        const del = await call('DELETE', `/attachments/${a.body.id}`);
        expect(del.status, JSON.stringify(del.body)).toBe(204);
        const repaired = (await call('GET', `/jobs/${repair.body.job.id}`)).body;
        const deleted = (await call('GET', `/jobs?kind=attachment.delete&resource=${a.body.id}`)).body.items[0];
        expect(repaired.status).not.toMatch(/queued|running/);
        // Serialised: the delete started once the repair had ended.
        expect(Date.parse(deleted.startedAt)).toBeGreaterThanOrEqual(Date.parse(repaired.finishedAt));
        expect((await call('GET', `/attachments/${a.body.id}`)).status).toBe(404);
        expect((await x(['ovs-vsctl', '--timeout=5', 'list-ports', 'br_race'])).stdout.trim()).toBe('');
        expect((await x(['ip', 'link', 'show', 'dev', a.body.hostIfname])).exitCode).not.toBe(0);
        const inside = JSON.parse((await w.ssh(HOST, ['ip', '-n', NS, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
        expect(inside.map((l) => l.ifname)).toEqual(['lo']);
      }
      expect((await call('GET', `/hosts/${HOST}/orphans`)).body.items).toEqual([]);
    } finally {
      await call('DELETE', `/bridges/${br.body.id}?cascade=true`);
      await w.ssh(HOST, ['ip', 'netns', 'del', NS]);
    }
  });
});

describe('bounded shutdown (the service as its own process)', () => {
  it('SIGTERM with a job held on the host: 503 shutting-down at once, exit within the grace + 2 s, the record unknown at the next start and resolved; a second signal exits at once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'np-shutdown-'));
    const env = { NETPLUMB_DB: path.join(dir, 'db'), NETPLUMB_SHUTDOWN_GRACE_S: '3', NETPLUMB_RECONCILE_INTERVAL_S: '1' };
    const replicas: Replica[] = [];
    const start = async (id: string) => {
      const r = await startReplica(id, env);
      replicas.push(r);
      return r;
    };
    const at =
      (r: Replica) =>
      async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
        const res = await fetch(`${r.url}${p}`, {
          method,
          headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      };
    const exited = (r: Replica) =>
      new Promise<number | null>((resolve) =>
        r.proc.exitCode !== null ? resolve(r.proc.exitCode) : r.proc.once('exit', (code) => resolve(code)),
      );
    /** A bridge create held mid-command on the host (ovs-vswitchd stopped): a job that will not end by itself. */
    const heldCreate = async (api: ReturnType<typeof at>, name: string) => {
      process.kill(vswitchd(), 'SIGSTOP');
      const r = await api('POST', '/bridges', { host: HOST, name, addresses: ['10.97.0.1/24'] }, { Prefer: 'respond-async' });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      await until(
        'the bridge row written on the host',
        10_000,
        async () => (await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=2', 'br-exists', name])).exitCode === 0,
      );
      return r.body.job.id as string;
    };
    try {
      const a = await start('shutdown-a');
      const apiA = at(a);
      expect((await apiA('POST', '/hosts', sshHostBody(w.sb, HOST))).status).toBe(201);
      const jobId = await heldCreate(apiA, 'brsd');

      const signalled = Date.now();
      a.proc.kill('SIGTERM');
      await until('draining', 2_000, async () => (await apiA('GET', '/healthz')).status === 503, 50);
      const health = await apiA('GET', '/healthz');
      expect(health.body.type).toBe('https://netplumb.dev/problems/shutting-down');
      const refused = await apiA('POST', '/bridges', { host: HOST, name: 'brnew' });
      expect(refused.status).toBe(503);
      expect(refused.body.type).toBe('https://netplumb.dev/problems/shutting-down');
      expect((await apiA('GET', `/jobs/${jobId}`)).status).toBe(200); // reads are still answered
      expect(await exited(a)).toBe(0);
      const took = Date.now() - signalled;
      expect(took, a.output()).toBeLessThan(3_000 + 2_000 + 1_000);
      expect(a.output()).toMatch(/closing them as interrupted, records unknown/);

      // The next start: the job says it was interrupted, the record is unknown; the host back, the loop resolves it.
      const b = await start('shutdown-b');
      const apiB = at(b);
      const job = (await apiB('GET', `/jobs/${jobId}`)).body;
      expect(job.status).toBe('interrupted');
      expect(job.error.detail).toMatch(/shut down \(SIGTERM\) 3 s after/);
      expect((await apiB('GET', `/bridges/${HOST}/brsd`)).body.state).toBe('unknown');
      process.kill(vswitchd(), 'SIGCONT');
      const resolved = await until('the loop resolves the bridge', 30_000, async () => {
        const x = await apiB('GET', `/bridges/${HOST}/brsd`);
        return x.status === 404 ? { state: 'gone' } : x.body.state !== 'unknown' && x.body;
      });
      expect(['ready', 'gone']).toContain(resolved.state);
      if (resolved.state === 'ready') expect((await apiB('DELETE', `/bridges/${resolved.id}`)).status).toBe(204);
      expect((await apiB('GET', `/hosts/${HOST}/orphans`)).body.items).toEqual([]);

      // A second signal does not wait for anything.
      await heldCreate(apiB, 'brsd2');
      b.proc.kill('SIGTERM');
      await until('draining', 2_000, async () => (await apiB('GET', '/healthz')).status === 503, 50);
      const again = Date.now();
      b.proc.kill('SIGINT');
      expect(await exited(b)).toBe(1);
      expect(Date.now() - again).toBeLessThan(1_000);
    } finally {
      try {
        process.kill(vswitchd(), 'SIGCONT');
      } catch {
        /* running */
      }
      for (const r of replicas) await r.stop(2_000);
      for (const name of ['brsd', 'brsd2', 'brnew']) await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', name]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
