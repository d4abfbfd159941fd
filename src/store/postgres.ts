/**
 * PostgreSQL store: several service replicas on one database. The Store interface stays synchronous (pg-sync.ts
 * runs the driver on a worker thread); `tx(fn)` is BEGIN; pg_advisory_xact_lock(mutation lock); fn(); COMMIT — so
 * a transaction means what it means on SQLite, "nothing else interleaves", across every replica.
 *
 * Beyond the Store: every job this replica inserts is leased to it in the same statement (job_leases: owner,
 * expiry, attempt); log appends and job updates NOTIFY `netplumb_jobs` so other replicas follow a job live. The
 * async side (host locks, heartbeats, expired leases, LISTEN) is pg-coordination.ts.
 */
import { PgError, SESSION_LOST, SyncConnection } from './pg-sync.js';
import { ADVISORY, PG_MIGRATIONS, schemaInit } from './pg-schema.js';
import {
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type JobFilter,
  type JobRecord,
  type ListQuery,
  type LogLine,
  type Page,
  type ResourceRecord,
  type Store,
  type StoredResponse,
} from './types.js';

type Row = Record<string, unknown>;

export const JOB_CHANNEL = 'netplumb_jobs';

export interface PgStoreOptions {
  /** postgres://… */
  url: string;
  /** A schema other than public (tests: one per store). Created when missing. */
  schema?: string;
  /** This replica: owner of the leases of the jobs it inserts. Null: insert jobs unleased (a worker claims them). */
  replicaId?: string | null;
  /** How long a lease lasts without a heartbeat (ms). */
  leaseMs?: number;
  /** Longest wait for one query (ms). */
  queryTimeoutMs?: number;
}

function whereClause(type: string, where: Record<string, string | undefined>, args: unknown[]): string[] {
  args.push(type);
  const cond = [`type = $${args.length}`];
  for (const [field, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(field)) throw new Error(`bad filter field ${field}`);
    args.push(field, value);
    cond.push(`(data::jsonb ->> $${args.length - 1}) = $${args.length}`);
  }
  return cond;
}

function page<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, nextCursor: more ? items[items.length - 1]!.id : null };
}

function toResource(r: Row): ResourceRecord {
  return {
    id: r.id as string,
    type: r.type as string,
    key: r.key as string,
    state: r.state as string,
    jobId: (r.job_id as string | null) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    data: JSON.parse(r.data as string) as unknown,
    secret: r.secret ? (JSON.parse(r.secret as string) as ResourceRecord['secret']) : null,
  };
}

function toJob(r: Row): JobRecord {
  return {
    id: r.id as string,
    kind: r.kind as string,
    status: r.status as JobRecord['status'],
    resource: { type: r.resource_type as string, id: r.resource_id as string },
    hosts: JSON.parse(r.hosts as string) as string[],
    progress: { done: r.done as number, total: r.total as number },
    error: r.error ? (JSON.parse(r.error as string) as JobRecord['error']) : null,
    createdAt: r.created_at as string,
    startedAt: (r.started_at as string | null) ?? null,
    finishedAt: (r.finished_at as string | null) ?? null,
    params: r.params ? (JSON.parse(r.params as string) as JobRecord['params']) : null,
    traceId: (r.trace_id as string | null) ?? null,
    parentSpanId: (r.parent_span_id as string | null) ?? null,
  };
}

export class PgStore implements Store {
  private conn: SyncConnection;
  private depth = 0;
  readonly replicaId: string | null;
  readonly leaseMs: number;
  readonly url: string;
  readonly schema: string;

  constructor(opts: PgStoreOptions) {
    this.url = opts.url;
    this.schema = opts.schema ?? 'public';
    this.replicaId = opts.replicaId === undefined ? null : opts.replicaId;
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.conn = new SyncConnection(opts.url, {
      // Commits wait for the WAL flush only where it matters (see durable()): a job's log lines and progress do not,
      // and the next durable commit (its outcome) flushes them with it.
      init: [...schemaInit(this.schema), 'SET synchronous_commit = off'],
      name: `netplumb store ${this.replicaId ?? ''}`.trim(),
      ...(opts.queryTimeoutMs ? { timeoutMs: opts.queryTimeoutMs } : {}),
    });
    try {
      this.migrate();
    } catch (e) {
      this.conn.close();
      throw e;
    }
  }

  /** The session broke (the database restarted, the network dropped): a new one is opened before the next statement outside a transaction. */
  private lost = false;

  private q(sql: string, params: unknown[] = []): Row[] {
    return this.run(sql, params).rows;
  }

  private run(sql: string, params: unknown[]): { rows: Row[]; rowCount: number } {
    // Inside a transaction the statement must fail (the transaction is gone with the session); outside, reconnect.
    if (this.lost && this.depth === 0) {
      this.conn.reopen();
      this.lost = false;
    }
    try {
      return this.conn.query(sql, params);
    } catch (e) {
      if (e instanceof PgError && e.code && SESSION_LOST.test(e.code)) this.lost = true;
      throw e;
    }
  }

  /** Versioned migrations, once, under an advisory lock: replicas starting together wait for the first. */
  private migrate(): void {
    this.q('BEGIN');
    try {
      this.q('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY.namespace, ADVISORY.migrations]);
      this.q('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const v = Number(this.q('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')[0]!.v);
      for (let i = v; i < PG_MIGRATIONS.length; i++) {
        this.q(PG_MIGRATIONS[i]!);
        this.q('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
      }
      this.q('COMMIT');
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    }
  }

  /** The schema version this database is at (for tests and /healthz-style checks). */
  schemaVersion(): number {
    return Number(this.q('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')[0]!.v);
  }

  private rollbackQuietly(): void {
    try {
      this.q('ROLLBACK');
    } catch {
      // the connection is gone: the server rolled back for us
    }
  }

  tx<T>(fn: () => T): T {
    if (this.depth > 0) {
      // Nested: a savepoint, as better-sqlite3 does, so an inner failure undoes only the inner part.
      const sp = `sp${this.depth}`;
      this.q(`SAVEPOINT ${sp}`);
      this.depth++;
      try {
        const r = fn();
        this.q(`RELEASE SAVEPOINT ${sp}`);
        return r;
      } catch (e) {
        this.q(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw e;
      } finally {
        this.depth--;
      }
    }
    // One mutation transaction at a time across all replicas (held until COMMIT/ROLLBACK).
    // Mutation transactions (job row, Idempotency-Key, resource rows) are durable before they are acknowledged.
    return this.outermost(
      `BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock(${ADVISORY.namespace}, ${ADVISORY.mutations})`,
      fn,
    );
  }

  /**
   * Runs one write as a durable commit (waits for the WAL flush, which also flushes every earlier commit of this
   * session): a job's outcome and an idempotent answer, like SQLite's synchronous=FULL. Inside a transaction the
   * transaction's own commit decides.
   */
  private durable<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    return this.outermost('BEGIN; SET LOCAL synchronous_commit = on', fn);
  }

  /** fn in an outermost transaction opened by `begin`: committed, or rolled back when it throws. */
  private outermost<T>(begin: string, fn: () => T): T {
    this.q(begin);
    this.depth = 1;
    try {
      const r = fn();
      this.q('COMMIT');
      return r;
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    } finally {
      this.depth = 0;
    }
  }

  // ---- resources
  insertResource(r: ResourceRecord): void {
    this.q(`INSERT INTO resources (id,type,key,state,job_id,created_at,updated_at,data,secret) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, [
      r.id,
      r.type,
      r.key,
      r.state,
      r.jobId,
      r.createdAt,
      r.updatedAt,
      JSON.stringify(r.data),
      r.secret ? JSON.stringify(r.secret) : null,
    ]);
  }
  updateResource(r: ResourceRecord): void {
    this.q(`UPDATE resources SET key=$1, state=$2, job_id=$3, updated_at=$4, data=$5, secret=$6 WHERE id=$7`, [
      r.key,
      r.state,
      r.jobId,
      r.updatedAt,
      JSON.stringify(r.data),
      r.secret ? JSON.stringify(r.secret) : null,
      r.id,
    ]);
  }
  deleteResource(id: string): void {
    this.q(`DELETE FROM resources WHERE id=$1`, [id]);
  }
  getResource(id: string): ResourceRecord | null {
    const r = this.q(`SELECT * FROM resources WHERE id=$1`, [id])[0];
    return r ? toResource(r) : null;
  }
  getResourceByKey(type: string, key: string): ResourceRecord | null {
    const r = this.q(`SELECT * FROM resources WHERE type=$1 AND key=$2`, [type, key])[0];
    return r ? toResource(r) : null;
  }
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Page<ResourceRecord> {
    const args: unknown[] = [];
    const cond = whereClause(type, q.where ?? {}, args);
    if (q.cursor) {
      args.push(q.cursor);
      cond.push(`id > $${args.length}`);
    }
    args.push(q.limit + 1);
    const rows = this.q(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id LIMIT $${args.length}`, args);
    return page(rows.map(toResource), q.limit);
  }
  allResources(type: string, where: Record<string, string | undefined> = {}): ResourceRecord[] {
    const args: unknown[] = [];
    const cond = whereClause(type, where, args);
    return this.q(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id`, args).map(toResource);
  }

  // ---- jobs
  insertJob(j: JobRecord): void {
    const args = [
      j.id,
      j.kind,
      j.status,
      j.resource.type,
      j.resource.id,
      JSON.stringify(j.hosts),
      j.progress.done,
      j.progress.total,
      j.error ? JSON.stringify(j.error) : null,
      j.createdAt,
      j.startedAt,
      j.finishedAt,
      j.params ? JSON.stringify(j.params) : null,
      j.traceId ?? null,
      j.parentSpanId ?? null,
    ];
    const insert = `INSERT INTO jobs (id,kind,status,resource_type,resource_id,hosts,done,total,error,created_at,started_at,finished_at,params,trace_id,parent_span_id)
      VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`;
    if (!this.replicaId) {
      this.q(insert, args);
      return;
    }
    // Leased to this replica from the first instant: there is no moment at which the job exists unowned.
    this.q(
      `WITH j AS (${insert} RETURNING id)
       INSERT INTO job_leases (job_id, owner, expires_at, attempt, claimed_at, heartbeat_at)
       SELECT id, $${args.length + 1}, now() + $${args.length + 2} * interval '1 millisecond', 1, now(), now() FROM j`,
      [...args, this.replicaId, this.leaseMs],
    );
  }
  updateJob(j: JobRecord): void {
    if (j.status === 'queued' || j.status === 'running') this.writeJob(j);
    else this.durable(() => this.writeJob(j));
  }
  private writeJob(j: JobRecord): void {
    // An interrupted job is final: a replica that lost its lease (stalled past it) cannot overwrite the verdict.
    this.q(
      `WITH u AS (UPDATE jobs SET status=$1, hosts=$2, done=$3, total=$4, error=$5, started_at=$6, finished_at=$7
         WHERE id=$8 AND status <> 'interrupted' RETURNING id)
       SELECT pg_notify('${JOB_CHANNEL}', id) FROM u`,
      [
        j.status,
        JSON.stringify(j.hosts),
        j.progress.done,
        j.progress.total,
        j.error ? JSON.stringify(j.error) : null,
        j.startedAt,
        j.finishedAt,
        j.id,
      ],
    );
  }
  getJob(id: string): JobRecord | null {
    const r = this.q(`SELECT * FROM jobs WHERE id=$1`, [id])[0];
    return r ? toJob(r) : null;
  }
  listJobs(f: JobFilter): Page<JobRecord> {
    const cond: string[] = ['TRUE'];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      cond.push(sql.replace('?', `$${args.length}`));
    };
    if (f.status) add('status = ?', f.status);
    if (f.kind) add('kind = ?', f.kind);
    if (f.resourceId) add('resource_id = ?', f.resourceId);
    if (f.cursor) add('id > ?', f.cursor);
    args.push(f.limit + 1);
    const rows = this.q(`SELECT * FROM jobs WHERE ${cond.join(' AND ')} ORDER BY id LIMIT $${args.length}`, args);
    return page(rows.map(toJob), f.limit);
  }
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): LogLine {
    // seq = max + 1 in the statement itself: no per-process cache, so another replica (the one that interrupts a
    // job whose owner died) appends after the owner's last line. The primary key refuses a duplicate seq.
    const r = this.q(
      `WITH ins AS (
         INSERT INTO job_logs (job_id,seq,ts,host,stream,text,exit_code,ms)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM job_logs WHERE job_id = $1
         RETURNING seq)
       SELECT seq, pg_notify('${JOB_CHANNEL}', $1) FROM ins`,
      [jobId, line.ts, line.host, line.stream, line.text, line.exitCode ?? null, line.ms ?? null],
    )[0]!;
    return { seq: r.seq as number, ...line };
  }
  forgetJob(_jobId: string): void {}
  getLogs(jobId: string, after: number, limit: number): LogLine[] {
    return this.q(`SELECT * FROM job_logs WHERE job_id=$1 AND seq>$2 ORDER BY seq LIMIT $3`, [jobId, after, limit]).map((r) => {
      const l: LogLine = {
        seq: r.seq as number,
        ts: r.ts as string,
        host: (r.host as string | null) ?? null,
        stream: r.stream as LogLine['stream'],
        text: r.text as string,
      };
      if (r.exit_code !== null) l.exitCode = r.exit_code as number;
      if (r.ms !== null) l.ms = r.ms as number;
      return l;
    });
  }
  jobsWithStatus(statuses: readonly string[]): JobRecord[] {
    if (!statuses.length) return [];
    return this.q(`SELECT * FROM jobs WHERE status = ANY($1::text[]) ORDER BY id`, [statuses]).map(toJob);
  }

  // ---- idempotency
  getIdempotency(key: string): IdempotencyRecord | null {
    const r = this.q(`SELECT * FROM idempotency WHERE key=$1`, [key])[0];
    if (!r) return null;
    return {
      key: r.key as string,
      fingerprint: r.fingerprint as string,
      jobId: (r.job_id as string | null) ?? null,
      response: r.response ? (JSON.parse(r.response as string) as StoredResponse) : null,
      createdAt: r.created_at as string,
      expiresAt: r.expires_at as string,
    };
  }
  insertIdempotency(r: IdempotencyRecord): void {
    // The primary key decides who owns a key: an expired record is replaced, a live one refuses the insert.
    const n = this.run(
      `INSERT INTO idempotency (key,fingerprint,job_id,response,created_at,expires_at) VALUES ($1,$2,$3,$4,$5,$6)
       ON CONFLICT (key) DO UPDATE SET fingerprint=EXCLUDED.fingerprint, job_id=EXCLUDED.job_id, response=EXCLUDED.response,
         created_at=EXCLUDED.created_at, expires_at=EXCLUDED.expires_at
       WHERE idempotency.expires_at < EXCLUDED.created_at`,
      [r.key, r.fingerprint, r.jobId, r.response ? JSON.stringify(r.response) : null, r.createdAt, r.expiresAt],
    ).rowCount;
    if (n === 0) throw new IdempotencyKeyTakenError(r.key);
  }
  setIdempotencyResponse(key: string, response: StoredResponse): void {
    this.durable(() => this.q(`UPDATE idempotency SET response=$1 WHERE key=$2`, [JSON.stringify(response), key]));
  }
  idempotencyKeysForJob(jobId: string): string[] {
    return this.q(`SELECT key FROM idempotency WHERE job_id=$1`, [jobId]).map((r) => r.key as string);
  }
  deleteExpiredIdempotency(nowIso: string): number {
    return this.run(`DELETE FROM idempotency WHERE expires_at < $1`, [nowIso]).rowCount;
  }

  probeWrite(): void {
    // Assigning a transaction id is a write: it fails on a read-only (standby) server, and leaves nothing behind.
    this.q(`SELECT txid_current()`);
  }

  /** Raw SQL on the store's connection, for the lease and recovery helpers that live beside it. */
  query(sql: string, params: unknown[] = []): Row[] {
    return this.q(sql, params);
  }

  close(): void {
    this.conn.close();
  }
}

export { PgError };
