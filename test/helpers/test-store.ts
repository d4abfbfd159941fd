/**
 * The store the API tests run on: SQLite in memory (default), or PostgreSQL when NETPLUMB_TEST_STORE=postgres
 * (the `api-pg` vitest project). On PostgreSQL each test file gets its own database on the run's server
 * (pg-global-setup.ts) and each store its own schema, so every await testApp() starts empty as it does on SQLite.
 * Everything opened here is closed after the file (setup.ts calls closeTestStores).
 */
import { HostLocks } from '../../src/jobs/locks.js';
import { localCoordination, type Coordination } from '../../src/store/coordination.js';
import { PgCoordination } from '../../src/store/pg-coordination.js';
import pg from 'pg';
import { PgStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';

export const testStoreKind = (): 'sqlite' | 'postgres' => (process.env.NETPLUMB_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite');

let fileDb: { url: string; name: string; admin: string } | null = null;
let schemas = 0;
const opened: { store: PgStore; coordination: PgCoordination }[] = [];

/** Runs one statement on the server's admin database. */
async function adminQuery(admin: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** This file's database (created on first use). */
export async function fileDatabaseUrl(): Promise<string> {
  if (fileDb) return fileDb.url;
  const admin = process.env.NETPLUMB_TEST_PG_URL;
  if (!admin) throw new Error('NETPLUMB_TEST_PG_URL is not set: the PostgreSQL tests need vitest.config.ts globalSetup');
  const name = `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await adminQuery(admin, `CREATE DATABASE ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  fileDb = { url: u.toString(), name, admin };
  return fileDb.url;
}

/** A fresh, empty PostgreSQL store (its own schema) with its coordination, closed after the file. */
export async function openPgTestStore(
  opts: { replicaId?: string; leaseMs?: number } = {},
): Promise<{ store: PgStore; coordination: PgCoordination }> {
  const url = await fileDatabaseUrl();
  const schema = `s${++schemas}`;
  const replicaId = opts.replicaId ?? `test-${schemas}`;
  const leaseMs = opts.leaseMs ?? 30_000;
  const store = await PgStore.open({ url, schema, replicaId, leaseMs });
  const coordination = new PgCoordination({ url, schema, replicaId, leaseMs, local: new HostLocks(), poolMax: 4 });
  const pair = { store, coordination };
  opened.push(pair);
  return pair;
}

/** The store await testApp() uses: explicit SQLite file, or the project's kind. */
export async function openTestStore(dbPath?: string): Promise<{ store: Store; coordination: Coordination }> {
  if (dbPath !== undefined || testStoreKind() === 'sqlite')
    return { store: new SqliteStore(dbPath ?? ':memory:'), coordination: localCoordination() };
  return await openPgTestStore();
}

export async function closeTestStores(): Promise<void> {
  for (const { store, coordination } of opened.splice(0)) {
    await coordination.close();
    await store.close();
  }
  if (fileDb) {
    await adminQuery(fileDb.admin, `DROP DATABASE IF EXISTS ${fileDb.name} WITH (FORCE)`);
    fileDb = null;
  }
}
