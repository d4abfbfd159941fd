import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newJob } from '../../src/jobs/runner.js';
import { FaultTolerantStore, withDeferredWrites } from '../../src/store/fault-tolerant.js';
import { StorageUnavailableError } from '../../src/store/faults.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { FaultyStore } from '../helpers/faulty-store.js';

const now = () => new Date().toISOString();
const res = (id: string, v: number): ResourceRecord => ({
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
  it('request path: a storage fault throws StorageUnavailableError and the transaction leaves nothing', () => {
    faulty.full = true;
    expect(() =>
      store.tx(() => {
        sqlite.insertResource(res('a', 1));
        store.insertResource(res('b', 1));
      }),
    ).toThrow(StorageUnavailableError);
    expect(sqlite.getResource('a')).toBeNull();
    expect(store.health()).toMatchObject({ writable: false, pendingWrites: 0 });
    expect(reports.join('\n')).toMatch(/STORE FAILING: SQLITE_FULL/);
    // Not a storage fault: thrown as it is.
    faulty.full = false;
    store.insertResource(res('c', 1));
    expect(() => store.insertResource(res('c', 1))).toThrow(/UNIQUE/);
  });

  it('job path: writes are kept in order, read back meanwhile, numbered like the store would, and written when it recovers', async () => {
    const job = newJob({ kind: 'k', resource: { type: 't', id: 'a' }, hosts: [] });
    store.insertJob(job);
    store.insertResource(res('a', 1));
    await withDeferredWrites(job.id, async () => {
      store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'one' });
      faulty.full = true;
      const two = store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'two' });
      expect(two.seq).toBe(2);
      store.updateResource(res('a', 2));
      faulty.full = false; // a write that would work now still waits its turn behind the kept ones
      store.updateResource(res('a', 3));
      store.deleteResource('a');
      job.status = 'succeeded';
      store.updateJob(job);
      job.status = 'failed'; // a later change to the same object does not leak into the kept copy
      store.tx(() => store.insertResource(res('z', 1)));
      expect(store.appendLog(job.id, { ts: now(), host: null, stream: 'info', text: 'three' }).seq).toBe(3);
    });
    expect(store.getResource('a')).toBeNull();
    expect(sqlite.getResource('a')!.data).toEqual({ v: 1 });
    expect(store.getJob(job.id)!.status).toBe('succeeded');
    expect(store.getLogs(job.id, 0, 10).map((l) => l.text)).toEqual(['one', 'two', 'three']);
    expect(store.getLogs(job.id, 2, 10).map((l) => l.text)).toEqual(['three']);
    expect(store.hasPendingWrites(job.id)).toBe(true);
    // A request-path write first writes what is kept (in order), then itself.
    store.insertResource(res('b', 1));
    expect(store.health()).toMatchObject({ writable: true, pendingWrites: 0 });
    expect(sqlite.getResource('a')).toBeNull();
    expect(sqlite.getResource('z')).not.toBeNull();
    expect(sqlite.getJob(job.id)!.status).toBe('succeeded');
    expect(sqlite.getLogs(job.id, 0, 10).map((l) => [l.seq, l.text])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    expect(reports.join('\n')).toMatch(/writable again/);
  });

  it('recovers by itself (timer), and a kept write that can never succeed is dropped loudly instead of blocking the rest', async () => {
    const job = newJob({ kind: 'k', resource: { type: 't', id: 'a' }, hosts: [] });
    store.insertJob(job);
    store.insertResource(res('dup', 1));
    faulty.full = true;
    withDeferredWrites(job.id, () => {
      store.insertResource(res('dup', 2)); // will fail with a constraint error when replayed
      store.insertResource(res('ok', 1));
    });
    faulty.full = false;
    await vi.waitFor(() => expect(store.health().pendingWrites).toBe(0), { timeout: 2000, interval: 10 });
    expect(sqlite.getResource('ok')).not.toBeNull();
    expect(reports.join('\n')).toMatch(/DROPPED a kept write .*insert resource dup/);
  });
});
