import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDeps, recoverInterruptedJobs } from '../../src/services.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { localHost, testApp } from '../helpers/app.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { FakeWorld } from '../helpers/fake-host.js';

let faulty: FaultyStore;
async function faultyApp(dbPath?: string) {
  const t = await testApp({ ...(dbPath ? { dbPath } : {}), wrapStore: (s) => (faulty = new FaultyStore(s)) });
  return t;
}
const STORAGE = 'https://netplumb.dev/problems/storage-unavailable';
const isAddBr = (argv: readonly string[]) => argv.includes('add-br');

beforeEach(() => {
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('the store failing (issue 9, finding 2)', () => {
  it('SQLITE_FULL on the request path: 503 storage-unavailable with Retry-After, no job, no command; reads, /healthz answer; recovers by itself', async () => {
    const t = await faultyApp();
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    const jobs = (await t.store.listJobs({ limit: 100 })).items.length;
    const calls = t.world.calls.length;
    faulty.full = true;

    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    const p = await r.json();
    expect(p.type).toBe(STORAGE);
    expect(p.detail).toMatch(/SQLITE_FULL|full/);
    expect((await t.store.listJobs({ limit: 100 })).items).toHaveLength(jobs);
    expect(t.world.calls).toHaveLength(calls);

    expect((await t.json('GET', '/hosts/docker1')).status).toBe(200);
    const health = await t.json('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'degraded', store: { status: 'failing', writable: false } });
    const ready = await t.json('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await ready.json()).type).toBe(STORAGE);

    faulty.full = false;
    // Nobody has to poke it: the store's own retry notices.
    await vi.waitFor(() => expect(t.deps.storage.health().writable).toBe(true), { timeout: 5000, interval: 100 });
    expect((await t.json('GET', '/readyz')).status).toBe(200);
    expect(await (await t.json('GET', '/healthz')).json()).toMatchObject({ status: 'ok', store: { status: 'ok' } });
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' })).status).toBe(201);
  });

  it('an idle replica does not say ready from memory: /readyz probes the store (full → 503; no answer within the bound → 503)', async () => {
    const t = await faultyApp();
    expect((await t.json('GET', '/readyz')).status).toBe(200);
    // No request has failed: only the probe can notice.
    faulty.full = true;
    expect(t.deps.storage.health().writable).toBe(true);
    const full = await t.json('GET', '/readyz');
    expect(full.status).toBe(503);
    expect((await full.json()).detail).toMatch(/full/);
    faulty.full = false;
    await vi.waitFor(async () => expect((await t.json('GET', '/readyz')).status).toBe(200), { timeout: 5000, interval: 100 });

    faulty.hangProbes = true;
    const hung = await t.json('GET', '/readyz');
    expect(hung.status).toBe(503);
    expect((await hung.json()).detail).toMatch(/did not answer a write probe within 1500 ms/);
    faulty.hangProbes = false;
    await vi.waitFor(async () => expect((await t.json('GET', '/readyz')).status).toBe(200), { timeout: 5000, interval: 100 });
  });

  it('the disk fills while a job runs: it finishes its host work, keeps its outcome in memory, and the store gets it all when writes work again', async () => {
    const t = await faultyApp();
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    t.world.on((argv) => {
      if (isAddBr(argv)) faulty.full = true;
      return undefined;
    });

    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, { 'Idempotency-Key': 'full-1' });
    // The job finished on the host, but its outcome could not be saved: not acknowledged as done.
    expect(r.status).toBe(503);
    const p = await r.json();
    expect(p.type).toBe(STORAGE);
    expect(p.jobId).toMatch(/^job_/);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(t.world.calls.some((c) => c.argv.includes('add-br'))).toBe(true);
    await t.deps.runner.drain();

    // In memory: the job's real outcome, its log, the bridge; in the store: not yet.
    const job = await (await t.json('GET', `/jobs/${p.jobId}`)).json();
    expect(job.status).toBe('succeeded');
    const lines = (await (await t.json('GET', `/jobs/${p.jobId}/logs`)).json()).items as { seq: number; text: string }[];
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.at(-1)!.text).toContain('succeeded');
    expect((await (await t.json('GET', '/bridges/docker1/br0')).json()).state).toBe('ready');
    expect((await t.store.getJob(p.jobId))!.status).toBe('running');
    expect(t.deps.storage.health()).toMatchObject({ writable: false });
    expect(t.deps.storage.health().pendingWrites).toBeGreaterThan(0);
    // Same key meanwhile: still 503 (the first request's answer is not saved yet).
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, { 'Idempotency-Key': 'full-1' })).status).toBe(503);

    faulty.full = false;
    await vi.waitFor(() => expect(t.deps.storage.health()).toMatchObject({ writable: true, pendingWrites: 0 }), {
      timeout: 5000,
      interval: 100,
    });
    expect(await t.store.getJob(p.jobId)).toMatchObject({ status: 'succeeded', error: null });
    expect(await t.store.getLogs(p.jobId, 0, 1000)).toEqual(lines);
    const br = (await t.store.getResourceByKey('bridge', `${(await t.store.getResourceByKey('host', 'docker1'))!.id}/br0`))!;
    expect(br.state).toBe('ready');
    const again = await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, { 'Idempotency-Key': 'full-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    // One run of the work only.
    expect(t.world.calls.filter((c) => c.argv.includes('add-br'))).toHaveLength(1);
  });

  it('a failing job during the outage: undone on the host, its problem kept and saved later; no unhandled rejection, the process serves on', async () => {
    const t = await faultyApp();
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      t.world.on((argv) => {
        if (isAddBr(argv)) {
          faulty.full = true;
          return undefined;
        }
        if (argv[0] === 'ip' && argv.includes('addr')) return { exitCode: 2, stderr: 'RTNETLINK answers: File exists' };
        return undefined;
      });
      const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br1', addresses: ['10.0.0.1/24'] }, { Prefer: 'respond-async' });
      expect(r.status).toBe(202);
      const { job } = await r.json();
      await t.deps.runner.drain();
      const kept = await (await t.json('GET', `/jobs/${job.id}`)).json();
      expect(kept.status).toBe('failed');
      expect(kept.error.type).toBe('https://netplumb.dev/problems/command-failed');
      expect(t.world.calls.some((c) => c.argv.includes('del-br'))).toBe(true);
      for (let i = 0; i < 3; i++) expect((await t.json('GET', '/hosts')).status).toBe(200);
      faulty.full = false;
      await vi.waitFor(() => expect(t.deps.storage.health().writable).toBe(true), { timeout: 5000, interval: 100 });
      expect(await t.store.getJob(job.id)).toMatchObject({
        status: 'failed',
        error: { type: 'https://netplumb.dev/problems/command-failed' },
      });
      await new Promise((res) => setTimeout(res, 50));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('a service stopped before the store took the outcome: the job shows as interrupted at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'np-faults-'));
    try {
      const db = join(dir, 'np.db');
      const a = await faultyApp(db);
      expect((await a.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
      a.world.on((argv) => {
        if (isAddBr(argv)) faulty.full = true;
        return undefined;
      });
      const r = await a.json('POST', '/bridges', { host: 'docker1', name: 'br0' });
      const { jobId } = await r.json();
      await a.deps.runner.drain();
      // Stopped for good with writes still kept (a shutdown reports them); never recovered.
      expect(await a.deps.storage.flush()).toBe(false);
      expect(a.deps.storage.pendingJobs()).toEqual([{ id: jobId, status: 'succeeded' }]);
      await a.deps.storage.close();

      const s = new SqliteStore(db);
      expect(await recoverInterruptedJobs(s)).toContain(jobId);
      const b = await createDeps(
        s,
        { defaultWaitMs: 1000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20 },
        new FakeWorld().factory(),
      );
      expect(await b.store.getJob(jobId)).toMatchObject({
        status: 'interrupted',
        error: { type: 'https://netplumb.dev/problems/job-interrupted' },
      });
      expect((await b.store.getJob(jobId))!.error!.detail).toMatch(/outcome could be saved/);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an I/O error on a read answers 503 storage-unavailable, not 500 internal', async () => {
    const t = await faultyApp();
    vi.spyOn(faulty, 'listResources').mockImplementation(() => {
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' });
    });
    const r = await t.json('GET', '/hosts');
    expect(r.status).toBe(503);
    expect((await r.json()).type).toBe(STORAGE);
  });
});
