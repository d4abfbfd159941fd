/**
 * Fault drill for real: the database on a tiny tmpfs that fills up. No sandbox hosts (the fake executor stands in
 * for them): what is tested is the service's own process and store. Needs root (mount).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { createObservability } from '../../src/observability/index.js';

const SOURCE = `netplumb-hardening-full-${process.pid}`;
let mnt = '';
let mounted = false;
let t: Awaited<ReturnType<typeof testApp>> | undefined;
const filler = () => join(mnt, 'filler');

/** Writes until the file system says ENOSPC. */
function fill(): number {
  const fd = openSync(filler(), 'a');
  const chunk = Buffer.alloc(4096, 0x55);
  let bytes = 0;
  try {
    for (;;) {
      try {
        bytes += writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return bytes;
        throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  mnt = mkdtempSync(join(tmpdir(), 'np-hardening-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', SOURCE, mnt]);
  mounted = true;
});

afterAll(async () => {
  try {
    await t?.deps.storage.close();
  } catch {
    /* already closed */
  }
  if (mounted) {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
  }
  if (mnt) rmSync(mnt, { recursive: true, force: true });
  try {
    rmdirSync(mnt);
  } catch {
    /* gone */
  }
});

describe('the database on a full file system (issue 9, finding 2, for real)', () => {
  it("serves 503 storage-unavailable while full, keeps a running job's outcome, and recovers by itself once space is freed", async () => {
    // The store's episodes are reported in the service log (error level).
    const errors: string[] = [];
    const obs = createObservability({ logLevel: 'error', logOut: { write: (l: string) => void errors.push(l) } });
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const db = join(mnt, 'state', 'np.db');
      t = await testApp({ dbPath: db, obs });
      expect((statSync(join(mnt, 'state')).mode & 0o777).toString(8)).toBe('700');
      expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);

      // A job that is running when the disk fills up.
      t.world.delayMs = 200;
      const started = await t.json(
        'POST',
        '/bridges',
        { host: 'docker1', name: 'running0' },
        { Prefer: 'respond-async', 'Idempotency-Key': 'running0' },
      );
      expect(started.status).toBe(202);
      const { job } = await started.json();
      expect(fill()).toBeGreaterThan(0);

      // Writes now fail for real (the WAL may have a little room left: push until the store says so).
      let refused: Response | undefined;
      for (let i = 0; i < 300 && !refused; i++) {
        const r = await t.json('POST', '/bridges', { host: 'docker1', name: `fill${i}` }, { Prefer: 'respond-async' });
        if (r.status === 503) refused = r;
        else expect(r.status).toBe(202);
      }
      expect(refused, 'the store never refused a write on a full file system').toBeDefined();
      expect(refused!.headers.get('retry-after')).toMatch(/^\d+$/);
      const p = await refused!.json();
      expect(p.type).toBe('https://netplumb.dev/problems/storage-unavailable');
      expect(p.detail).toMatch(/SQLITE_FULL|full/i);

      // The process serves on: reads, liveness, readiness (failing).
      expect((await t.json('GET', '/hosts')).status).toBe(200);
      const health = await t.json('GET', '/healthz');
      expect(health.status).toBe(200);
      expect((await health.json()).store.status).toBe('failing');
      expect((await t.json('GET', '/readyz')).status).toBe(503);

      // The running job finished its host work; its outcome is known in memory.
      t.world.delayMs = 0;
      await t.deps.runner.drain();
      expect(t.world.calls.some((c) => c.argv.includes('add-br') && c.argv.includes('running0'))).toBe(true);
      expect((await (await t.json('GET', `/jobs/${job.id}`)).json()).status).toBe('succeeded');

      // ... and only there: the store could not take it.
      expect(t.deps.storage.hasPendingWrites(job.id)).toBe(true);
      expect((await t.store.getJob(job.id))!.status).toBe('running');
      // Free the space: nobody pokes the service, it notices by itself.
      unlinkSync(filler());
      await vi.waitFor(
        async () => expect((await t!.json('GET', '/healthz')).status === 200 && t!.deps.storage.health().writable).toBe(true),
        { timeout: 10_000, interval: 200 },
      );
      expect((await t.json('GET', '/readyz')).status).toBe(200);
      expect((await t.store.getJob(job.id))!.status).toBe('succeeded');
      const seqs = (await t.store.getLogs(job.id, 0, 1000)).map((l) => l.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      const replay = await t.json('POST', '/bridges', { host: 'docker1', name: 'running0' }, { 'Idempotency-Key': 'running0' });
      expect(replay.status).toBe(201);
      expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'after' })).status).toBe(201);
      expect(rejections).toEqual([]);
      expect(errors.join('')).toMatch(/STORE FAILING/);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
