/**
 * Which store the service runs on, and what a replica does beside serving: SQLite (the default: one process) or
 * PostgreSQL (`NETPLUMB_DB=postgres://…`: any number of replicas on one database). See docs/replicas.md.
 */
import { answerIdempotencyKeys } from './api/mutation.js';
import { startLeaseReaper, type LeaseReaper } from './jobs/lease-recovery.js';
import { HostLocks } from './jobs/locks.js';
import { recoverInterruptedJobs } from './services.js';
import { localCoordination, type Coordination } from './store/coordination.js';
import { newReplicaId, PgCoordination } from './store/pg-coordination.js';
import { PgStore } from './store/postgres.js';
import { SqliteStore } from './store/sqlite.js';
import type { JobRecord, Store } from './store/types.js';
import type { Observability } from './observability/index.js';

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The database URL without its password, for start-up lines. */
export function describeDb(db: string): string {
  if (!isPostgresUrl(db)) return db;
  try {
    const u = new URL(db);
    if (u.password) u.password = '***';
    // The driver also takes secrets as query parameters.
    for (const k of [...u.searchParams.keys()]) if (/pass|key|secret|token/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export interface OpenedStore {
  kind: 'sqlite' | 'postgres';
  store: Store;
  coordination: Coordination;
  /** Set on PostgreSQL. */
  replicaId?: string;
  leaseMs?: number;
}

export interface OpenOptions {
  db: string;
  leaseMs?: number;
  replicaId?: string | undefined;
  poolMax?: number;
  /** PostgreSQL schema (tests; default public). */
  schema?: string;
  /** Where the replicas' coordination reports trouble (locks, leases, the job feed): the service log. */
  log?: (msg: string) => void;
}

export async function openStore(o: OpenOptions): Promise<OpenedStore> {
  if (!isPostgresUrl(o.db)) return { kind: 'sqlite', store: new SqliteStore(o.db), coordination: localCoordination() };
  const replicaId = o.replicaId ?? newReplicaId();
  const leaseMs = o.leaseMs ?? 15_000;
  const store = await PgStore.open({
    url: o.db,
    replicaId,
    leaseMs,
    ...(o.poolMax ? { poolMax: o.poolMax } : {}),
    ...(o.schema ? { schema: o.schema } : {}),
  });
  const coordination = new PgCoordination({
    url: o.db,
    replicaId,
    leaseMs,
    local: new HostLocks(),
    ...(o.poolMax ? { poolMax: o.poolMax } : {}),
    ...(o.schema ? { schema: o.schema } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  return { kind: 'postgres', store, coordination, replicaId, leaseMs };
}

/**
 * Start-up recovery. One process (SQLite): every job left queued or running was its own, so each becomes
 * interrupted now. Replicas: other replicas' jobs are running, so only jobs whose lease expired are interrupted —
 * now and then every leaseMs/4 for as long as this replica runs (the reaper; stop it at shutdown).
 */
export async function startRecovery(
  opened: OpenedStore,
  store: Store,
  obs: Pick<Observability, 'logger' | 'metrics'>,
): Promise<{ interrupted: string[]; reaper: LeaseReaper | null }> {
  if (!opened.coordination.leases) return { interrupted: await recoverInterruptedJobs(store), reaper: null };
  const answer = (job: JobRecord) => answerIdempotencyKeys(store, job, { successStatus: 200 });
  const log = (m: string) => obs.logger.warn({ component: 'leases' }, m);
  const reaper = startLeaseReaper(store, opened.coordination.leases, answer, { log, onTakeover: () => obs.metrics.leaseTakeovers.inc() });
  void reaper.sweep().catch((e: Error) => log(`lease sweep failed (${e.message}); retrying`));
  return { interrupted: [], reaper };
}
