import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newJob } from '../../src/jobs/runner.js';
import { FaultTolerantStore, withDeferredWrites } from '../../src/store/fault-tolerant.js';
import { StorageUnavailableError } from '../../src/store/faults.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { FaultyStore } from '../helpers/faulty-store.js';

const now = () => new Date().toISOString();
const res = (id: string, v: number): ResourceRecord => ({
  version: 1,
  id,
  type: 't',
  key: id,
  state: 'ready',
  jobId: null,
  createdAt: now(),
  updatedAt: now(),
  data: { v },
});

let sqlite: SqliteStore;
let faulty: FaultyStore;
let store: FaultTolerantStore;
const reports: string[] = [];
beforeEach(() => {
  sqlite = new SqliteStore(':memory:');
  faulty = new FaultyStore(sqlite);
  store = new FaultTolerantStore(faulty, { retryMs: 20, log: (m) => reports.push(m) });
  reports.length = 0;
});
afterEach(() => store.close());

describe('FaultTolerantStore', () => {
  it('request path: a storage fault throws StorageUnavailableError and the transaction leaves nothing', async () => {
    faulty.full = true;
    await expect(
      store.tx(async () => {
        await sqlite.insertResource(res('a', 1));
        await store.insertResource(res('b', 1));
      }),
    ).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await sqlite.getResource('a')).toBeNull();
    expect(store.health()).toMatchObject({ writable: false, pendingWrites: 0 });
    expect(reports.join('\n')).toMatch(/STORE FAILING: SQLITE_FULL/);
    // Not a storage fault: thrown as it is.
    faulty.full = false;
    await store.insertResource(res('c', 1));
    await expect(store.insertResource(res('c', 1))).rejects.toThrow(/UNIQUE/);
  });

  it('job path: writes are kept in order, read back meanwhile, numbered like the store would, and written when it recovers', async () => {
    const job = newJob({ kind: 'k', resource: { type: 't', id: 'a' }, hosts: [] });
    await store.insertJob(job);
    await store.insertResource(res('a', 1));
    await withDeferredWrites(job.id, async () => {
      await store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'one' });
      faulty.full = true;
      const two = await store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'two' });
      expect(two.seq).toBe(2);
      // Read back meanwhile at its new version: the next write compares and sets on that.
      const a2 = await store.updateResource(res('a', 2));
      expect(a2.version).toBe(2);
      expect(await store.getResource('a')).toMatchObject({ data: { v: 2 }, version: 2 });
      faulty.full = false; // a write that would work now still waits its turn behind the kept ones
      await store.updateResource({ ...res('a', 3), version: 2 });
      await store.deleteResource('a');
      job.status = 'succeeded';
      await store.updateJob(job);
      job.status = 'failed'; // a later change to the same object does not leak into the kept copy
      // A transaction is never kept: while the store fails it throws the storage fault, typed.
      faulty.full = true;
      await expect(store.tx(async () => await store.insertResource(res('z', 1)))).rejects.toBeInstanceOf(StorageUnavailableError);
      faulty.full = false;
      expect((await store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'three' })).seq).toBe(3);
    });
    expect(await store.getResource('a')).toBeNull();
    expect((await sqlite.getResource('a'))!.data).toEqual({ v: 1 });
    expect((await store.getJob(job.id))!.status).toBe('succeeded');
    expect((await store.getLogs(job.id, 0, 10)).map((l) => l.text)).toEqual(['one', 'two', 'three']);
    expect((await store.getLogs(job.id, 2, 10)).map((l) => l.text)).toEqual(['three']);
    expect(store.hasPendingWrites(job.id)).toBe(true);
    // A request-path write first writes what is kept (in order), then itself.
    await store.insertResource(res('b', 1));
    expect(store.health()).toMatchObject({ writable: true, pendingWrites: 0 });
    expect(await sqlite.getResource('a')).toBeNull();
    expect(await sqlite.getResource('z')).toBeNull();
    expect((await sqlite.getJob(job.id))!.status).toBe('succeeded');
    expect((await sqlite.getLogs(job.id, 0, 10)).map((l) => [l.seq, l.text])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    expect(reports.join('\n')).toMatch(/writable again/);
  });

  it('recovers by itself (timer), and a kept write that can never succeed is dropped loudly instead of blocking the rest', async () => {
    const job = newJob({ kind: 'k', resource: { type: 't', id: 'a' }, hosts: [] });
    await store.insertJob(job);
    await store.insertResource(res('dup', 1));
    faulty.full = true;
    await withDeferredWrites(job.id, async () => {
      await store.insertResource(res('dup', 2)); // will fail with a constraint error when replayed
      await store.insertResource(res('ok', 1));
    });
    faulty.full = false;
    await vi.waitFor(() => expect(store.health().pendingWrites).toBe(0), { timeout: 2000, interval: 10 });
    expect(await sqlite.getResource('ok')).not.toBeNull();
    expect(reports.join('\n')).toMatch(/DROPPED a kept write .*insert resource dup/);
  });
});
