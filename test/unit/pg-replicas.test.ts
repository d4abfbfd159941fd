/**
 * What replicas share through PostgreSQL, with two "replicas" in one process (two stores and coordinations on one
 * schema): host locks, leases (heartbeat, expiry, takeover, lost lease), the claim of queued jobs, the job feed,
 * migrations run once.
 */
import { describe, expect, it } from 'vitest';
import { HostLocks } from '../../src/jobs/locks.js';
import { interruptLeasedJob } from '../../src/jobs/lease-recovery.js';
import { PgCoordination } from '../../src/store/pg-coordination.js';
import { PgStore } from '../../src/store/postgres.js';
import type { JobRecord } from '../../src/store/types.js';
import { isStorageFault } from '../../src/store/faults.js';
import { fileDatabaseUrl, openPgTestStore } from '../helpers/test-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const job = (id: string, over: Partial<JobRecord> = {}): JobRecord => ({
  id,
  kind: 'bridge.create',
  status: 'running',
  resource: { type: 'bridge', id: `br_${id}` },
  hosts: ['host_1'],
  progress: { done: 0, total: 0 },
  error: null,
  createdAt: new Date().toISOString(),
  startedAt: null,
  finishedAt: null,
  ...over,
});

/** A second replica on the schema of `a` (its own store connection and coordination). */
async function replicaOn(a: PgStore, replicaId: string, leaseMs: number) {
  const store = await PgStore.open({ url: a.url, schema: a.schema, replicaId, leaseMs });
  const coordination = new PgCoordination({ url: a.url, schema: a.schema, replicaId, leaseMs, local: new HostLocks(), poolMax: 4 });
  return {
    store,
    coordination,
    close: async () => {
      await coordination.close();
      await store.close();
    },
  };
}

/** Resolves true when p settles within ms. */
const settlesWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

describe('PostgreSQL replicas', () => {
  it('a replica that gives up waiting for a host lock (its bound) leaves the database queue and holds nothing (issue 33)', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const b = await replicaOn(a.store, 'B', 30_000);
    try {
      const relA = await a.coordination.hostLocks.acquire(['h1'], 'exclusive', { owner: 'job_a' });
      const gaveUp = new AbortController();
      const waiting = b.coordination.hostLocks.acquire(['h1'], 'exclusive', { owner: 'job_b', signal: gaveUp.signal });
      expect(await settlesWithin(waiting, 300)).toBe(false);
      gaveUp.abort(new Error('bound'));
      await expect(waiting).rejects.toThrow('bound');
      relA();
      // Had B's connection stayed in pg_advisory_lock it would own h1 now: A takes it again at once.
      const again = a.coordination.hostLocks.acquire(['h1'], 'exclusive', { owner: 'job_c' });
      expect(await settlesWithin(again, 2_000)).toBe(true);
      (await again)();
    } finally {
      await b.close();
    }
  });

  it('host locks exclude across replicas: exclusive waits for exclusive and shared; shared runs beside shared', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const b = await replicaOn(a.store, 'B', 30_000);
    try {
      const relA = await a.coordination.hostLocks.acquire(['h1', 'h2'], 'exclusive');
      const pending = b.coordination.hostLocks.acquire(['h2'], 'exclusive');
      expect(await settlesWithin(pending, 300)).toBe(false);
      // Another host is free meanwhile.
      (await b.coordination.hostLocks.acquire(['h3']))();
      relA();
      const relB = await pending;
      relB();

      const s1 = await a.coordination.hostLocks.acquire(['h1'], 'shared');
      const s2 = await b.coordination.hostLocks.acquire(['h1'], 'shared');
      const ex = a.coordination.hostLocks.acquire(['h1'], 'exclusive');
      expect(await settlesWithin(ex, 300)).toBe(false);
      s1();
      expect(await settlesWithin(ex, 300)).toBe(false);
      s2();
      (await ex)();
    } finally {
      await b.close();
    }
  });

  it('a replica that dies (its connections close) releases its host locks', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const b = await replicaOn(a.store, 'B', 30_000);
    try {
      const relB = await b.coordination.hostLocks.acquire(['h1']);
      const waiting = a.coordination.hostLocks.acquire(['h1']);
      expect(await settlesWithin(waiting, 300)).toBe(false);
      // As when B's process is killed: the server ends its sessions.
      await a.store.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'netplumb coordination B'`);
      expect(await settlesWithin(waiting, 5000)).toBe(true);
      (await waiting)();
      relB(); // its connection is gone: releasing drops it
    } finally {
      await b.close();
    }
  });

  it('a held lease is renewed; an expired one is taken over, the job interrupted naming the replica, and the owner learns it lost it', async () => {
    const a = await openPgTestStore({ replicaId: 'A', leaseMs: 400 });
    const b = await replicaOn(a.store, 'B', 400);
    try {
      await a.store.insertResource({
        id: 'br_j1',
        type: 'bridge',
        key: 'k1',
        state: 'pending',
        jobId: 'j1',
        createdAt: 'c',
        updatedAt: 'c',
        data: {},
      });
      await a.store.insertJob(job('j1'));
      await a.store.insertJob(job('j2'));
      expect(await a.coordination.leases.describe('j1')).toMatchObject({ owner: 'A', attempt: 1 });
      const held = a.coordination.leases.hold('j2');
      await sleep(1000);
      // j1 was never renewed: expired. j2 was (heartbeat every 133 ms).
      const taken = await b.coordination.leases.takeExpired();
      expect(taken.map((t) => t.jobId)).toEqual(['j1']);
      expect(taken[0]).toMatchObject({ previousOwner: 'A', attempt: 2 });
      expect(Date.parse(taken[0]!.expiredAt!)).toBeLessThan(Date.parse(taken[0]!.takenAt));
      expect(held.lost).toBe(false);

      const answered: string[] = [];
      expect(await interruptLeasedJob(b.store, taken[0]!, 'B', (j) => void answered.push(j.id))).toBe(true);
      expect(answered).toEqual(['j1']);
      const j1 = (await a.store.getJob('j1'))!;
      expect(j1.status).toBe('interrupted');
      const last = (await a.store.getLogs('j1', 0, 100)).at(-1)!;
      expect(last.stream).toBe('error');
      expect(last.text).toMatch(/replica A stopped renewing this job's lease .*replica B marked it interrupted at /);
      expect((await a.store.getResource('br_j1'))!.state).toBe('unknown');
      // A late write of the old owner cannot undo the verdict.
      await a.store.updateJob({ ...j1, status: 'succeeded', error: null });
      expect((await a.store.getJob('j1'))!.status).toBe('interrupted');
      // Taking it again finds nothing: the job is finished.
      expect(await b.coordination.leases.takeExpired()).toEqual([]);

      // j2's owner stalls past its lease; B takes it over; A's next heartbeat learns the lease is lost.
      a.coordination.leases.stop();
      await sleep(700);
      expect((await b.coordination.leases.takeExpired()).map((t) => t.jobId)).toEqual(['j2']);
      a.coordination.leases.hold('j2');
      const again = a.coordination.leases.hold('j2');
      await a.coordination.leases.beat();
      expect(again.lost).toBe(true);
      // confirm() (the runner calls it once it holds its hosts) says the same without waiting for a heartbeat.
      const late = a.coordination.leases.hold('j2');
      expect(await a.coordination.leases.confirm('j2')).toBe(false);
      expect(late.lost).toBe(true);
      await a.store.insertJob(job('j3'));
      a.coordination.leases.hold('j3');
      expect(await a.coordination.leases.confirm('j3')).toBe(true);
    } finally {
      await b.close();
    }
  });

  it('claimNext: concurrent workers never claim the same queued job (FOR UPDATE SKIP LOCKED), owned jobs are never claimed', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const queue = await PgStore.open({ url: a.store.url, schema: a.store.schema, replicaId: null });
    const b = await replicaOn(a.store, 'B', 30_000);
    try {
      const queued = Array.from({ length: 8 }, (_, i) => `q${i}`);
      for (const id of queued) await queue.insertJob(job(id, { status: 'queued' }));
      await a.store.insertJob(job('owned', { status: 'queued' }));
      // 12 claims at once from two replicas for 8 jobs: each job claimed exactly once, 4 find none.
      const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? b : a).coordination.leases.claimNext()));
      const ids = claims.map((c) => c?.jobId ?? null);
      expect(ids.filter(Boolean).sort()).toEqual(queued);
      expect(ids.filter((x) => x === null)).toHaveLength(4);
      const owners = await Promise.all(queued.map((id) => a.coordination.leases.describe(id)));
      expect(owners.every((o) => (o?.owner === 'A' || o?.owner === 'B') && o.attempt === 1)).toBe(true);
      expect(await a.coordination.leases.describe('owned')).toMatchObject({ owner: 'A' });
      for (const c of claims) c?.release();
    } finally {
      await queue.close();
      await b.close();
    }
  });

  it('the feed wakes another replica on each log line and job update of a job it does not run', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const b = await replicaOn(a.store, 'B', 30_000);
    try {
      await a.store.insertJob(job('f1'));
      let woken = 0;
      const off = b.coordination.feed.subscribe('f1', () => woken++);
      await sleep(500); // LISTEN is up (and poked once when it came up)
      const before = woken;
      const t = performance.now();
      await a.store.appendLog('f1', { ts: 't', host: null, stream: 'info', text: 'x' });
      while (woken === before && performance.now() - t < 2000) await sleep(5);
      expect(woken).toBeGreaterThan(before);
      // Counted before the write: the listener can hear the commit before the writer's own answer comes back.
      const mid = woken;
      await a.store.updateJob(job('f1', { status: 'succeeded' }));
      const t2 = performance.now();
      while (woken === mid && performance.now() - t2 < 5000) await sleep(5);
      expect(woken).toBeGreaterThan(mid);
      off();
    } finally {
      await b.close();
    }
  });

  it('migrations are versioned and run once: a second store on the same schema applies none', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const again = await PgStore.open({ url: await fileDatabaseUrl(), schema: a.store.schema, replicaId: 'C' });
    try {
      expect(await again.schemaVersion()).toBe(6);
      expect((await again.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version)).toEqual([
        1, 2, 3, 4, 5, 6,
      ]);
    } finally {
      await again.close();
    }
  });

  it('a lost session is at most one storage fault (503 on the request path): the pool opens a new one', async () => {
    const a = await openPgTestStore({ replicaId: 'lost' });
    const other = await replicaOn(a.store, 'killer', 30_000);
    try {
      await a.store.insertJob(job('s1'));
      await other.store.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'netplumb store lost'`);
      let err: unknown;
      try {
        await a.store.getJob('s1');
      } catch (e) {
        err = e;
      }
      // The pool drops a connection it sees die while idle; a call that got it first fails as a storage fault.
      if (err !== undefined) expect(isStorageFault(err), err instanceof Error ? err.message : 'not an Error').toBe(true);
      expect((await a.store.getJob('s1'))!.id).toBe('s1');
      // A transaction works again too.
      expect(await a.store.tx(async () => (await a.store.getJob('s1'))!.status)).toBe('running');
    } finally {
      void other.close();
    }
  });
});
