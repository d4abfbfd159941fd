/** One contract, both stores: what every Store must do (SQLite in memory; PostgreSQL on the run's server). */
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { IdempotencyKeyTakenError, VersionConflictError, type JobRecord, type ResourceRecord, type Store } from '../../src/store/types.js';
import { openPgTestStore } from '../helpers/test-store.js';

const stores: [string, () => Promise<Store>][] = [
  ['sqlite', () => Promise.resolve(new SqliteStore(':memory:'))],
  ['postgres', async () => (await openPgTestStore()).store],
];

const res = (id: string, over: Partial<ResourceRecord> = {}): ResourceRecord => ({
  version: 1,
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
  principal: null,
  ...over,
});

describe.each(stores)('store contract: %s', (_name, open) => {
  it('keeps resources as written (data JSON with its key order, secret), unique per type and key', async () => {
    const s = await open();
    const r = res('br_a', { secret: { privateKey: 'k' } });
    await s.insertResource(r);
    expect(await s.getResource('br_a')).toEqual(r);
    expect(JSON.stringify((await s.getResource('br_a'))!.data)).toBe(JSON.stringify(r.data));
    expect((await s.getResourceByKey('bridge', 'host_1/br_a'))!.id).toBe('br_a');
    expect(await s.getResourceByKey('tunnel', 'host_1/br_a')).toBeNull();
    await expect(s.insertResource(res('br_b', { key: 'host_1/br_a' }))).rejects.toThrow();
    await s.updateResource({ ...r, state: 'ready', data: { host: 'host_2' }, secret: null, updatedAt: 'u' });
    expect(await s.getResource('br_a')).toMatchObject({ state: 'ready', data: { host: 'host_2' }, secret: null, updatedAt: 'u' });
    await s.deleteResource('br_a');
    expect(await s.getResource('br_a')).toBeNull();
  });

  it('pages resources in id order (bytewise) with a cursor and filters on top-level data fields', async () => {
    const s = await open();
    for (const id of ['br_b', 'br_C', 'br_a', 'br_d']) await s.insertResource(res(id, { data: { host: id === 'br_d' ? 'h2' : 'h1' } }));
    await s.insertResource(res('tun_x', { type: 'tunnel', key: 'x' }));
    const p1 = await s.listResources('bridge', { limit: 2 });
    expect(p1.items.map((r) => r.id)).toEqual(['br_C', 'br_a']);
    expect(p1.nextCursor).toBe('br_a');
    const p2 = await s.listResources('bridge', { limit: 2, cursor: p1.nextCursor! });
    expect(p2.items.map((r) => r.id)).toEqual(['br_b', 'br_d']);
    expect(p2.nextCursor).toBeNull();
    expect((await s.listResources('bridge', { limit: 10, where: { host: 'h2' } })).items.map((r) => r.id)).toEqual(['br_d']);
    expect((await s.allResources('bridge', { host: 'h1', name: undefined })).map((r) => r.id)).toEqual(['br_C', 'br_a', 'br_b']);
    await expect(s.allResources('bridge', { 'x;drop': 'y' })).rejects.toThrow(/bad filter field/);
  });

  it("keeps a job's parameters as written (what a worker needs to run it)", async () => {
    const s = await open();
    const params = { previous: { name: 'br', addresses: ['10.0.0.1/24'] }, cascade: true, n: 1 };
    await s.insertJob(job('job_p', { kind: 'bridge.update', params }));
    expect((await s.getJob('job_p'))!.params).toEqual(params);
    expect((await s.listJobs({ limit: 10 })).items[0]!.params).toEqual(params);
  });

  it("keeps a job's trace (trace id and the span it was made under) through inserts, updates and lists", async () => {
    const s = await open();
    const traced = job('job_t', { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    await s.insertJob(traced);
    await s.updateJob({ ...traced, status: 'succeeded', traceId: 'ffffffffffffffffffffffffffffffff' });
    expect(await s.getJob('job_t')).toMatchObject({ status: 'succeeded', traceId: traced.traceId, parentSpanId: traced.parentSpanId });
    expect((await s.listJobs({ limit: 10 })).items[0]).toMatchObject({ traceId: traced.traceId });
    await s.insertJob(job('job_u'));
    expect(await s.getJob('job_u')).toMatchObject({ traceId: null, parentSpanId: null });
  });

  it('stores jobs, lists them by status, kind and resource with paging', async () => {
    const s = await open();
    await s.insertJob(job('job_1'));
    await s.insertJob(job('job_2', { kind: 'tunnel.create', resource: { type: 'tunnel', id: 'tun_1' } }));
    await s.insertJob(job('job_3', { status: 'running' }));
    const j1 = (await s.getJob('job_1'))!;
    expect(j1).toEqual(job('job_1'));
    const done = { ...j1, status: 'failed' as const, error: { type: 't', detail: 'd' }, progress: { done: 2, total: 3 }, finishedAt: 'f' };
    await s.updateJob(done);
    expect(await s.getJob('job_1')).toEqual(done);
    expect((await s.listJobs({ limit: 10, status: 'failed' })).items.map((j) => j.id)).toEqual(['job_1']);
    expect((await s.listJobs({ limit: 10, kind: 'tunnel.create' })).items.map((j) => j.id)).toEqual(['job_2']);
    expect((await s.listJobs({ limit: 10, resourceId: 'br_1' })).items.map((j) => j.id)).toEqual(['job_1', 'job_3']);
    const p = await s.listJobs({ limit: 2 });
    expect(p.nextCursor).toBe('job_2');
    expect((await s.listJobs({ limit: 2, cursor: 'job_2' })).items.map((j) => j.id)).toEqual(['job_3']);
    expect((await s.jobsWithStatus(['queued', 'running'])).map((j) => j.id)).toEqual(['job_2', 'job_3']);
    expect(await s.jobsWithStatus([])).toEqual([]);
    expect(await s.getJob('job_x')).toBeNull();
  });

  it("keeps a job's principal and lists jobs by its id", async () => {
    const s = await open();
    const ci = { kind: 'token', id: 'tok_ci', name: 'ci' };
    await s.insertJob(job('job_1', { principal: ci }));
    await s.insertJob(job('job_2', { principal: { kind: 'bootstrap', id: 'bootstrap', name: 'b' } }));
    await s.insertJob(job('job_3'));
    expect((await s.getJob('job_1'))!.principal).toEqual(ci);
    expect((await s.getJob('job_3'))!.principal).toBeNull();
    expect((await s.listJobs({ limit: 10, principal: 'tok_ci' })).items.map((j) => j.id)).toEqual(['job_1']);
    expect((await s.listJobs({ limit: 10, principal: 'nobody' })).items).toEqual([]);
  });

  it('keeps tokens by id and by hash, pages them, revokes once (the first time stays)', async () => {
    const s = await open();
    const t = (id: string, hash: string) => ({
      id,
      name: `n-${id}`,
      hash,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: null,
      revokedAt: null,
      data: { scopes: ['read'], prefix: 'np_x' },
    });
    await s.insertToken(t('tok_a', 'h1'));
    await s.insertToken(t('tok_b', 'h2'));
    await expect(s.insertToken(t('tok_c', 'h1'))).rejects.toThrow();
    expect(await s.getToken('tok_a')).toEqual(t('tok_a', 'h1'));
    expect((await s.getTokenByHash('h2'))!.id).toBe('tok_b');
    expect(await s.getTokenByHash('nope')).toBeNull();
    const p1 = await s.listTokens({ limit: 1 });
    expect(p1.items.map((x) => x.id)).toEqual(['tok_a']);
    expect((await s.listTokens({ limit: 1, cursor: p1.nextCursor! })).items.map((x) => x.id)).toEqual(['tok_b']);
    expect((await s.revokeToken('tok_a', '2026-02-01T00:00:00.000Z'))!.revokedAt).toBe('2026-02-01T00:00:00.000Z');
    expect((await s.revokeToken('tok_a', '2026-03-01T00:00:00.000Z'))!.revokedAt).toBe('2026-02-01T00:00:00.000Z');
    expect(await s.revokeToken('tok_zz', '2026-03-01T00:00:00.000Z')).toBeNull();
  });

  it('audit log: numbered in order, filtered, and append-only (updates and deletes are refused by the database)', async () => {
    const s = await open();
    const a = await s.appendAudit({ ts: 't1', action: 'token.create', principal: 'bootstrap', data: { token: 'tok_a' } });
    const b = await s.appendAudit({ ts: 't2', action: 'request.refused', principal: 'tok_a', data: { path: '/hosts' } });
    expect(b.seq).toBeGreaterThan(a.seq);
    expect(await s.listAudit({ limit: 10 })).toEqual([a, b]);
    expect(await s.listAudit({ limit: 10, after: a.seq })).toEqual([b]);
    expect(await s.listAudit({ limit: 10, principal: 'tok_a' })).toEqual([b]);
    expect(await s.listAudit({ limit: 10, action: 'token.create' })).toEqual([a]);
    const raw = s as unknown as { database?: { exec(sql: string): void }; query?: (sql: string) => Promise<unknown> };
    const tamper = async (sql: string) => (raw.database ? raw.database.exec(sql) : await raw.query!(sql));
    await expect(tamper(`UPDATE audit SET principal = 'someone-else'`)).rejects.toThrow(/append-only/);
    await expect(tamper(`DELETE FROM audit`)).rejects.toThrow(/append-only/);
    expect(await s.listAudit({ limit: 10 })).toEqual([a, b]);
  });

  it('numbers log lines 1, 2, 3 per job and reads them after a seq', async () => {
    const s = await open();
    await s.insertJob(job('job_1'));
    await s.insertJob(job('job_2'));
    const a = await s.appendLog('job_1', { ts: 't1', host: null, stream: 'info', text: 'one' });
    await s.appendLog('job_2', { ts: 't', host: null, stream: 'info', text: 'other' });
    await s.appendLog('job_1', { ts: 't2', host: 'h', stream: 'cmd', text: 'two', exitCode: 0, ms: 1.5 });
    s.forgetJob('job_1');
    await s.appendLog('job_1', { ts: 't3', host: null, stream: 'error', text: 'three' });
    expect(a.seq).toBe(1);
    expect(await s.getLogs('job_1', 0, 10)).toEqual([
      { seq: 1, ts: 't1', host: null, stream: 'info', text: 'one' },
      { seq: 2, ts: 't2', host: 'h', stream: 'cmd', text: 'two', exitCode: 0, ms: 1.5 },
      { seq: 3, ts: 't3', host: null, stream: 'error', text: 'three' },
    ]);
    expect((await s.getLogs('job_1', 1, 1)).map((l) => l.seq)).toEqual([2]);
    expect((await s.getLogs('job_2', 0, 10)).map((l) => l.seq)).toEqual([1]);
  });

  it('idempotency: a live key is refused by the store (the unique key decides), an expired one replaced', async () => {
    const s = await open();
    const rec = {
      key: 'k1',
      fingerprint: 'f',
      jobId: 'job_1',
      response: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
    };
    await s.insertIdempotency(rec);
    expect(await s.getIdempotency('k1')).toEqual(rec);
    await expect(s.insertIdempotency({ ...rec, fingerprint: 'g', createdAt: '2026-01-01T12:00:00.000Z' })).rejects.toThrow(
      IdempotencyKeyTakenError,
    );
    expect((await s.getIdempotency('k1'))!.fingerprint).toBe('f');
    await s.setIdempotencyResponse('k1', { status: 201, headers: { a: 'b' }, body: '{}' });
    expect((await s.getIdempotency('k1'))!.response).toEqual({ status: 201, headers: { a: 'b' }, body: '{}' });
    expect(await s.idempotencyKeysForJob('job_1')).toEqual(['k1']);
    // After it expired the key may be used again.
    await s.insertIdempotency({
      ...rec,
      fingerprint: 'h',
      jobId: 'job_2',
      createdAt: '2026-01-03T00:00:00.000Z',
      expiresAt: '2026-01-04T00:00:00.000Z',
    });
    expect(await s.getIdempotency('k1')).toMatchObject({ fingerprint: 'h', jobId: 'job_2', response: null });
    await s.insertIdempotency({ ...rec, key: 'k2' });
    expect(await s.deleteExpiredIdempotency('2026-01-03T00:00:00.000Z')).toBe(1);
    expect(await s.getIdempotency('k2')).toBeNull();
    expect(await s.getIdempotency('nope')).toBeNull();
  });

  it('tx commits together, rolls back together on a throw, and a nested tx that throws undoes only itself', async () => {
    const s = await open();
    expect(await s.tx(async () => (await s.insertResource(res('br_1')), 42))).toBe(42);
    await expect(
      s.tx(async () => {
        await s.insertResource(res('br_2'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await s.getResource('br_2')).toBeNull();
    await s.tx(async (t) => {
      await t.insertResource(res('br_3'));
      await expect(
        t.tx(async () => {
          await t.insertResource(res('br_4'));
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
    });
    expect(await s.getResource('br_3')).not.toBeNull();
    expect(await s.getResource('br_4')).toBeNull();
    // A failed statement inside a transaction does not poison what follows (the store rolled back).
    await expect(s.tx(async () => await s.insertResource(res('br_1')))).rejects.toThrow();
    await s.insertResource(res('br_5'));
    expect(await s.getResource('br_5')).not.toBeNull();
    await s.probeWrite?.();
  });

  it('a call from outside an open transaction waits for it: it neither joins it nor sees its writes', async () => {
    const s = await open();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    const tx = s.tx(async (t) => {
      await t.insertResource(res('br_tx'));
      inside();
      await held;
      throw new Error('rolled back');
    });
    await entered;
    // Outside the transaction: an insert made now must not be rolled back with it, and must not see br_tx.
    const outside = (async () => {
      expect(await s.getResource('br_tx')).toBeNull();
      await s.insertResource(res('br_out'));
    })();
    release();
    await expect(tx).rejects.toThrow('rolled back');
    await outside;
    expect(await s.getResource('br_tx')).toBeNull();
    expect(await s.getResource('br_out')).not.toBeNull();
  });

  it('versions every record: each write increments it, and a write at a stale version is refused', async () => {
    const s = await open();
    const inserted = await s.insertResource(res('br_v'));
    expect(inserted.version).toBe(1);
    expect((await s.getResource('br_v'))!.version).toBe(1);
    // A whole-record write at the version read.
    const updated = await s.updateResource({ ...inserted, state: 'ready', updatedAt: 'u1' });
    expect(updated.version).toBe(2);
    // The same stale copy again: refused, nothing written, the error says what it found.
    const stale = s.updateResource({ ...inserted, state: 'failed', updatedAt: 'u2' });
    await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
    await expect(stale).rejects.toMatchObject({ id: 'br_v', expected: 1, current: 2 });
    expect(await s.getResource('br_v')).toMatchObject({ state: 'ready', version: 2 });
    // A patch changes only its fields (the secret and the data stay), compare-and-set when a version is given.
    await s.updateResource({ ...(await s.getResource('br_v'))!, secret: { privateKey: 'k' } });
    const patched = await s.patchResource('br_v', { state: 'deleting', jobId: 'job_1', updatedAt: 'u3' }, 3);
    expect(patched).toMatchObject({ state: 'deleting', jobId: 'job_1', version: 4, secret: { privateKey: 'k' }, data: res('br_v').data });
    await expect(s.patchResource('br_v', { state: 'ready', updatedAt: 'u4' }, 3)).rejects.toMatchObject({ expected: 3, current: 4 });
    expect(await s.patchResource('br_v', { data: { x: 1 }, updatedAt: 'u5' })).toMatchObject({
      version: 5,
      data: { x: 1 },
      state: 'deleting',
    });
    // A record that is gone: a patch says so with null, a whole-record write with a conflict naming no version.
    expect(await s.patchResource('nope', { state: 'ready', updatedAt: 'u' }, 1)).toBeNull();
    await expect(s.updateResource(res('nope'))).rejects.toMatchObject({ current: null });
    // A delete at a stale version is refused; at the current one it goes; a second delete finds nothing.
    await expect(s.deleteResource('br_v', 4)).rejects.toBeInstanceOf(VersionConflictError);
    expect(await s.deleteResource('br_v', 5)).toBe(true);
    expect(await s.deleteResource('br_v')).toBe(false);
    expect(await s.deleteResource('br_v', 5)).toBe(false);
  });

  it('two writers at the same version: exactly one wins', async () => {
    const s = await open();
    const r = await s.insertResource(res('br_race'));
    const outcomes = await Promise.allSettled([
      s.patchResource('br_race', { state: 'ready', updatedAt: 'a' }, r.version),
      s.patchResource('br_race', { state: 'failed', updatedAt: 'b' }, r.version),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    expect((await s.getResource('br_race'))!.version).toBe(2);
  });
  it('a ledger read and written in one transaction never hands out a key twice (the Docker plugin leases addresses so)', async () => {
    const s = await open();
    const where = { topology: 'seed', network: 'web' };
    // Ten "hosts" ask at once: each reads the leases and takes the lowest free address, in one transaction.
    const lease = (host: string) =>
      s.tx(async (t) => {
        const held = new Set((await t.allResources('docker-address', where)).map((r) => (r.data as { address: string }).address));
        let n = 2;
        while (held.has(`10.0.0.${n}`)) n++;
        const address = `10.0.0.${n}`;
        await t.insertResource(
          res(`dip_${host}`, {
            type: 'docker-address',
            key: `seed/web/${address}`,
            data: { ...where, address, hostId: host, gateway: false },
          }),
        );
        return address;
      });
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => lease(`h${i}`)));
    expect(new Set(got).size).toBe(10);
    expect(got.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 2}`).sort());
    // The key is the last word: a second lease of one address fails whatever the transactions did.
    await expect(s.insertResource(res('dip_dup', { type: 'docker-address', key: 'seed/web/10.0.0.2' }))).rejects.toThrow();
  });
});
