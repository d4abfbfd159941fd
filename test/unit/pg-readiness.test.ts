/**
 * Readiness on PostgreSQL (issue 24): PostgreSQL stopped under two idle replicas — no request in flight, nothing
 * failed yet — and each replica's /readyz answers 503 `storage-unavailable` at its next probe (within 2 s), not 200
 * from a flag kept in memory. A cluster of its own (pg-cluster.ts), stopped by the test; the shared one is untouched.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { openStore, type OpenedStore } from '../../src/replicas.js';
import { createDeps } from '../../src/services.js';
import { FakeWorld } from '../helpers/fake-host.js';
import { startCluster, type PgCluster } from '../helpers/pg-cluster.js';

const config = { defaultWaitMs: 5_000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20 };

describe('readiness on PostgreSQL', () => {
  let cluster: PgCluster | null = null;
  const opened: OpenedStore[] = [];
  afterAll(async () => {
    for (const o of opened) {
      await o.coordination.close().catch(() => undefined);
      await o.store.close().catch(() => undefined);
    }
    await cluster?.stop().catch(() => undefined);
  });

  it('PostgreSQL stopped: every idle replica says 503 at its next /readyz, within 2 s', async () => {
    cluster = await startCluster();
    const replicas = [];
    for (const replicaId of ['ready-a', 'ready-b']) {
      const o = await openStore({ db: cluster.url, replicaId, leaseMs: 15_000, poolMax: 2 });
      opened.push(o);
      const deps = await createDeps(o.store, config, new FakeWorld().factory(), o.coordination);
      replicas.push(createApp(deps));
    }
    for (const app of replicas) expect((await app.request('/readyz')).status).toBe(200);

    await cluster.stop();
    cluster = null;
    const stoppedAt = Date.now();
    for (const app of replicas) {
      const r = await app.request('/readyz');
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      const p = (await r.json()) as { type: string; store: { writable: boolean } };
      expect(p.type).toBe('https://netplumb.dev/problems/storage-unavailable');
      expect(p.store.writable).toBe(false);
    }
    // Each answer came from a probe bounded at 1.5 s (a stopped server refuses at once).
    expect(Date.now() - stoppedAt).toBeLessThan(2 * 2_000);
  });
});
