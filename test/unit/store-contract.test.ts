/** One contract, both stores: what every Store must do (SQLite in memory; PostgreSQL on the run's server). */
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { IdempotencyKeyTakenError, type JobRecord, type ResourceRecord, type Store } from '../../src/store/types.js';
import { openPgTestStore } from '../helpers/test-store.js';

const stores: [string, () => Store][] = [
  ['sqlite', () => new SqliteStore(':memory:')],
  ['postgres', () => openPgTestStore().store],
];

const res = (id: string, over: Partial<ResourceRecord> = {}): ResourceRecord => ({
  id,
  type: 'bridge',
  key: `host_1/${id}`,
  state: 'pending',
  jobId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  data: { host: 'host_1', name: id, nested: { b: 2, a: [1, 'x'] } },
  secret: null,
  ...over,
});

const job = (id: string, over: Partial<JobRecord> = {}): JobRecord => ({
  id,
  kind: 'bridge.create',
  status: 'queued',
  resource: { type: 'bridge', id: 'br_1' },
  hosts: ['host_1'],
  progress: { done: 0, total: 0 },
  error: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  params: null,
  traceId: null,
  parentSpanId: null,
  ...over,
});

describe.each(stores)('store contract: %s', (_name, open) => {
  it('keeps resources as written (data JSON with its key order, secret), unique per type and key', () => {
    const s = open();
    const r = res('br_a', { secret: { privateKey: 'k' } });
    s.insertResource(r);
    expect(s.getResource('br_a')).toEqual(r);
    expect(JSON.stringify(s.getResource('br_a')!.data)).toBe(JSON.stringify(r.data));
    expect(s.getResourceByKey('bridge', 'host_1/br_a')!.id).toBe('br_a');
    expect(s.getResourceByKey('tunnel', 'host_1/br_a')).toBeNull();
    expect(() => s.insertResource(res('br_b', { key: 'host_1/br_a' }))).toThrow();
    s.updateResource({ ...r, state: 'ready', data: { host: 'host_2' }, secret: null, updatedAt: 'u' });
    expect(s.getResource('br_a')).toMatchObject({ state: 'ready', data: { host: 'host_2' }, secret: null, updatedAt: 'u' });
    s.deleteResource('br_a');
    expect(s.getResource('br_a')).toBeNull();
  });

  it('pages resources in id order (bytewise) with a cursor and filters on top-level data fields', () => {
    const s = open();
    for (const id of ['br_b', 'br_C', 'br_a', 'br_d']) s.insertResource(res(id, { data: { host: id === 'br_d' ? 'h2' : 'h1' } }));
    s.insertResource(res('tun_x', { type: 'tunnel', key: 'x' }));
    const p1 = s.listResources('bridge', { limit: 2 });
    expect(p1.items.map((r) => r.id)).toEqual(['br_C', 'br_a']);
    expect(p1.nextCursor).toBe('br_a');
    const p2 = s.listResources('bridge', { limit: 2, cursor: p1.nextCursor! });
    expect(p2.items.map((r) => r.id)).toEqual(['br_b', 'br_d']);
    expect(p2.nextCursor).toBeNull();
    expect(s.listResources('bridge', { limit: 10, where: { host: 'h2' } }).items.map((r) => r.id)).toEqual(['br_d']);
    expect(s.allResources('bridge', { host: 'h1', name: undefined }).map((r) => r.id)).toEqual(['br_C', 'br_a', 'br_b']);
    expect(() => s.allResources('bridge', { 'x;drop': 'y' })).toThrow(/bad filter field/);
  });

  it("keeps a job's parameters as written (what a worker needs to run it)", () => {
    const s = open();
    const params = { previous: { name: 'br', addresses: ['10.0.0.1/24'] }, cascade: true, n: 1 };
    s.insertJob(job('job_p', { kind: 'bridge.update', params }));
    expect(s.getJob('job_p')!.params).toEqual(params);
    expect(s.listJobs({ limit: 10 }).items[0]!.params).toEqual(params);
  });

  it("keeps a job's trace (trace id and the span it was made under) through inserts, updates and lists", () => {
    const s = open();
    const traced = job('job_t', { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    s.insertJob(traced);
    s.updateJob({ ...traced, status: 'succeeded', traceId: 'ffffffffffffffffffffffffffffffff' });
    expect(s.getJob('job_t')).toMatchObject({ status: 'succeeded', traceId: traced.traceId, parentSpanId: traced.parentSpanId });
    expect(s.listJobs({ limit: 10 }).items[0]).toMatchObject({ traceId: traced.traceId });
    s.insertJob(job('job_u'));
    expect(s.getJob('job_u')).toMatchObject({ traceId: null, parentSpanId: null });
  });

  it('stores jobs, lists them by status, kind and resource with paging', () => {
    const s = open();
    s.insertJob(job('job_1'));
    s.insertJob(job('job_2', { kind: 'tunnel.create', resource: { type: 'tunnel', id: 'tun_1' } }));
    s.insertJob(job('job_3', { status: 'running' }));
    const j1 = s.getJob('job_1')!;
    expect(j1).toEqual(job('job_1'));
    const done = { ...j1, status: 'failed' as const, error: { type: 't', detail: 'd' }, progress: { done: 2, total: 3 }, finishedAt: 'f' };
    s.updateJob(done);
    expect(s.getJob('job_1')).toEqual(done);
    expect(s.listJobs({ limit: 10, status: 'failed' }).items.map((j) => j.id)).toEqual(['job_1']);
    expect(s.listJobs({ limit: 10, kind: 'tunnel.create' }).items.map((j) => j.id)).toEqual(['job_2']);
    expect(s.listJobs({ limit: 10, resourceId: 'br_1' }).items.map((j) => j.id)).toEqual(['job_1', 'job_3']);
    const p = s.listJobs({ limit: 2 });
    expect(p.nextCursor).toBe('job_2');
    expect(s.listJobs({ limit: 2, cursor: 'job_2' }).items.map((j) => j.id)).toEqual(['job_3']);
    expect(s.jobsWithStatus(['queued', 'running']).map((j) => j.id)).toEqual(['job_2', 'job_3']);
    expect(s.jobsWithStatus([])).toEqual([]);
    expect(s.getJob('job_x')).toBeNull();
  });

  it('numbers log lines 1, 2, 3 per job and reads them after a seq', () => {
    const s = open();
    s.insertJob(job('job_1'));
    s.insertJob(job('job_2'));
    const a = s.appendLog('job_1', { ts: 't1', host: null, stream: 'info', text: 'one' });
    s.appendLog('job_2', { ts: 't', host: null, stream: 'info', text: 'other' });
    s.appendLog('job_1', { ts: 't2', host: 'h', stream: 'cmd', text: 'two', exitCode: 0, ms: 1.5 });
    s.forgetJob('job_1');
    s.appendLog('job_1', { ts: 't3', host: null, stream: 'error', text: 'three' });
    expect(a.seq).toBe(1);
    expect(s.getLogs('job_1', 0, 10)).toEqual([
      { seq: 1, ts: 't1', host: null, stream: 'info', text: 'one' },
      { seq: 2, ts: 't2', host: 'h', stream: 'cmd', text: 'two', exitCode: 0, ms: 1.5 },
      { seq: 3, ts: 't3', host: null, stream: 'error', text: 'three' },
    ]);
    expect(s.getLogs('job_1', 1, 1).map((l) => l.seq)).toEqual([2]);
    expect(s.getLogs('job_2', 0, 10).map((l) => l.seq)).toEqual([1]);
  });

  it('idempotency: a live key is refused by the store (the unique key decides), an expired one replaced', () => {
    const s = open();
    const rec = {
      key: 'k1',
      fingerprint: 'f',
      jobId: 'job_1',
      response: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
    };
    s.insertIdempotency(rec);
    expect(s.getIdempotency('k1')).toEqual(rec);
    expect(() => s.insertIdempotency({ ...rec, fingerprint: 'g', createdAt: '2026-01-01T12:00:00.000Z' })).toThrow(
      IdempotencyKeyTakenError,
    );
    expect(s.getIdempotency('k1')!.fingerprint).toBe('f');
    s.setIdempotencyResponse('k1', { status: 201, headers: { a: 'b' }, body: '{}' });
    expect(s.getIdempotency('k1')!.response).toEqual({ status: 201, headers: { a: 'b' }, body: '{}' });
    expect(s.idempotencyKeysForJob('job_1')).toEqual(['k1']);
    // After it expired the key may be used again.
    s.insertIdempotency({
      ...rec,
      fingerprint: 'h',
      jobId: 'job_2',
      createdAt: '2026-01-03T00:00:00.000Z',
      expiresAt: '2026-01-04T00:00:00.000Z',
    });
    expect(s.getIdempotency('k1')).toMatchObject({ fingerprint: 'h', jobId: 'job_2', response: null });
    s.insertIdempotency({ ...rec, key: 'k2' });
    expect(s.deleteExpiredIdempotency('2026-01-03T00:00:00.000Z')).toBe(1);
    expect(s.getIdempotency('k2')).toBeNull();
    expect(s.getIdempotency('nope')).toBeNull();
  });

  it('tx commits together, rolls back together on a throw, and a nested tx that throws undoes only itself', () => {
    const s = open();
    expect(s.tx(() => (s.insertResource(res('br_1')), 42))).toBe(42);
    expect(() =>
      s.tx(() => {
        s.insertResource(res('br_2'));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.getResource('br_2')).toBeNull();
    s.tx(() => {
      s.insertResource(res('br_3'));
      expect(() =>
        s.tx(() => {
          s.insertResource(res('br_4'));
          throw new Error('inner');
        }),
      ).toThrow('inner');
    });
    expect(s.getResource('br_3')).not.toBeNull();
    expect(s.getResource('br_4')).toBeNull();
    // A failed statement inside a transaction does not poison what follows (the store rolled back).
    expect(() => s.tx(() => s.insertResource(res('br_1')))).toThrow();
    s.insertResource(res('br_5'));
    expect(s.getResource('br_5')).not.toBeNull();
    s.probeWrite?.();
  });
});
