import { createApp } from '../../src/app.js';
import type { AppConfig } from '../../src/deps.js';
import { createDeps } from '../../src/services.js';
import type { Store } from '../../src/store/types.js';
import { openTestStore } from './test-store.js';
import { checkedAgainstSpec, contractMismatches, mismatches } from './contract.js';
import { overSocket, socketRequester } from './socket.js';
import { FakeWorld } from './fake-host.js';
import type { Observability } from '../../src/observability/index.js';

/**
 * wrapStore: put something between the service and the store (e.g. a FaultyStore). The store is SQLite in memory,
 * or PostgreSQL in the api-pg project (test-store.ts); a dbPath is always an SQLite file.
 */
export async function testApp(
  opts: {
    token?: string;
    config?: Partial<AppConfig>;
    dbPath?: string;
    wrapStore?: (s: Store) => Store;
    /** Metrics, logs, traces of the app (default: made by createDeps, logs off). */
    obs?: Observability;
  } = {},
) {
  const world = new FakeWorld();
  const { store, coordination } = await openTestStore(opts.dbPath);
  const config: AppConfig = {
    token: opts.token,
    defaultWaitMs: 30_000,
    idempotencyTtlMs: 86_400_000,
    maxBodyBytes: 1024 * 1024,
    ...opts.config,
  };
  const deps = await createDeps(opts.wrapStore ? opts.wrapStore(store) : store, config, world.factory(), coordination, opts.obs);
  // Every answer is checked against openapi/openapi.json (contract.ts); setup.ts fails the test on a mismatch.
  const raw = createApp(deps);
  const served = raw.fetch.bind(raw);
  const app = checkedAgainstSpec(raw);
  if (overSocket()) {
    // The api-http project: app.request() goes through a real socket to the app as src/server.ts serves it, and the
    // answer is checked as it arrived (app.fetch, served by a test itself, is still checked in-process).
    const send = socketRequester(served, async (method, url, res) => void mismatches.push(...(await contractMismatches(method, url, res))));
    app.request = (input: RequestInfo | URL, init?: RequestInit) => send(input, init);
  }
  const auth: Record<string, string> = opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
  const json = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: { ...auth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  return { app, deps, store, world, json };
}

export const localHost = (name = 'docker1', extra: Record<string, unknown> = {}) => ({ name, executor: { kind: 'local' }, ...extra });
