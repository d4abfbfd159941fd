/**
 * Two replicas on one PostgreSQL database: a token revoked through one is refused by the other at its next request
 * (each request looks its token up in the store; nothing is cached per replica).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createDeps } from '../../src/services.js';
import { PgStore } from '../../src/store/postgres.js';
import { fileDatabaseUrl, openPgTestStore } from '../helpers/test-store.js';
import { FakeWorld } from '../helpers/fake-host.js';

const BOOTSTRAP = 'bootstrap-token-0123456789';
const config = { token: BOOTSTRAP, defaultWaitMs: 5000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20 };
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

describe('tokens across replicas (PostgreSQL)', () => {
  it('a token revoked on replica A is refused by replica B at once', async () => {
    const a = await openPgTestStore({ replicaId: 'A' });
    const bStore = await PgStore.open({ url: await fileDatabaseUrl(), schema: a.store.schema, replicaId: 'B', leaseMs: 30_000 });
    closers.push(() => bStore.close());
    const world = new FakeWorld();
    const appA = createApp(await createDeps(a.store, config, world.factory(), a.coordination));
    const appB = createApp(await createDeps(bStore, config, world.factory()));
    const req = (app: typeof appA, method: string, path: string, token: string, body?: unknown) =>
      app.request(path, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });

    const made = await req(appA, 'POST', '/tokens', BOOTSTRAP, { name: 'ci', scopes: ['read'] });
    expect(made.status).toBe(201);
    const tok = (await made.json()) as { id: string; token: string };
    expect((await req(appB, 'GET', '/hosts', tok.token)).status).toBe(200);

    expect((await req(appA, 'DELETE', `/tokens/${tok.id}`, BOOTSTRAP)).status).toBe(204);
    const refused = await req(appB, 'GET', '/hosts', tok.token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/was revoked/);
    // The database holds its SHA-256, never the token.
    const rows = await a.store.query('SELECT * FROM tokens');
    expect(JSON.stringify(rows)).not.toContain(tok.token.slice(3));
  });
});
