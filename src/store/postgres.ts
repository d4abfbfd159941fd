/**
 * PostgreSQL store: several service replicas on one database, on the async `pg` driver (a pool; nothing blocks the
 * event loop). `tx(fn)` takes one pooled client for the whole callback: BEGIN; pg_advisory_xact_lock(mutation
 * lock); fn; COMMIT — so a transaction means what it means on SQLite, "nothing else writes in between", across
 * every replica. Store calls made in fn's async context run on that client (AsyncLocalStorage); any other call
 * takes a pooled client of its own.
 *
 * Beyond the Store: every job this replica inserts is leased to it in the same statement (job_leases: owner,
 * expiry, attempt); log appends and job updates NOTIFY `netplumb_jobs` so other replicas follow a job live. The
 * rest of the coordination (host locks, heartbeats, expired leases, LISTEN) is pg-coordination.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { ADVISORY, PG_MIGRATIONS, schemaInit } from './pg-schema.js';
import {
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type JobFilter,
  type JobRecord,
  type ListQuery,
  type LogLine,
  type NewResourceRecord,
  type Page,
  type ResourcePatch,
  type ResourceRecord,
  type Store,
  type StoredResponse,
  type TokenRecord,
  type AuditQuery,
  type AuditRecord,
  VersionConflictError,
} from './types.js';

/** SQLSTATE classes and socket errors after which a session is gone (or in an unknown state): it is not reused. */
export const SESSION_LOST = /^(08...|57P0[1-3]|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH)$/;

/** A query failed: the driver's message, with PostgreSQL's SQLSTATE (or the socket's errno) in `code`. */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly constraint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PgError';
  }
}

/** The driver's error as a PgError with a code (a query timeout and a closed pool get one too). */
function pgError(e: unknown): PgError {
  if (e instanceof PgError) return e;
  const err = e as { message?: string; code?: unknown; constraint?: unknown; errno?: unknown };
  const message = err?.message ?? String(e);
  let code = typeof err?.code === 'string' ? err.code : undefined;
  if (!code && /timeout/i.test(message)) code = 'ETIMEDOUT';
  if (!code && /Connection terminated|Client has encountered a connection error|not queryable/i.test(message)) code = 'ECONNRESET';
  if (!code && /pool (after calling end|is ended)|Cannot use a pool after/i.test(message)) code = 'ECONNCLOSED';
  return new PgError(message, code, typeof err?.constraint === 'string' ? err.constraint : undefined, { cause: e });
}

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
  /** Longest wait for one query or a connection (ms). */
  queryTimeoutMs?: number;
  /** Pooled connections (default 10). */
  poolMax?: number;
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
    version: Number(r.version),
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
    principal: r.principal ? (JSON.parse(r.principal as string) as JobRecord['principal']) : null,
  };
}

function toToken(r: Row): TokenRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    hash: r.hash as string,
    createdAt: r.created_at as string,
    expiresAt: (r.expires_at as string | null) ?? null,
    revokedAt: (r.revoked_at as string | null) ?? null,
    data: JSON.parse(r.data as string) as TokenRecord['data'],
  };
}

interface TxFrame {
  client: pg.PoolClient;
  open: boolean;
  depth: number;
}

export class PgStore implements Store {
  private readonly pool: pg.Pool;
  private readonly scope = new AsyncLocalStorage<TxFrame>();
  readonly replicaId: string | null;
  readonly leaseMs: number;
  readonly url: string;
  readonly schema: string;

  private constructor(opts: PgStoreOptions) {
    this.url = opts.url;
    this.schema = opts.schema ?? 'public';
    schemaInit(this.schema); // checks the name
    this.replicaId = opts.replicaId === undefined ? null : opts.replicaId;
    this.leaseMs = opts.leaseMs ?? 15_000;
    // Commits wait for the WAL flush only where it matters (see durable()): a job's log lines and progress do not,
    // and the next durable commit (its outcome) flushes them with it.
    const options = ['-c synchronous_commit=off', ...(this.schema !== 'public' ? [`-c search_path=${this.schema}`] : [])].join(' ');
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 10,
      idleTimeoutMillis: 10_000,
      application_name: `netplumb store ${this.replicaId ?? ''}`.trim(),
      options,
      query_timeout: opts.queryTimeoutMs ?? 30_000,
      connectionTimeoutMillis: opts.queryTimeoutMs ?? 30_000,
    });
    // An idle pooled connection that drops is replaced on the next checkout; nothing to do here.
    this.pool.on('error', () => {});
  }

  /** Opens the store: connects and brings the schema up to date. */
  static async open(opts: PgStoreOptions): Promise<PgStore> {
    const store = new PgStore(opts);
    try {
      await store.migrate();
    } catch (e) {
      await store.pool.end().catch(() => undefined);
      throw e;
    }
    return store;
  }

  private async q(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.run(sql, params)).rows;
  }

  private async run(sql: string, params: unknown[]): Promise<{ rows: Row[]; rowCount: number }> {
    const frame = this.scope.getStore();
    try {
      const r = frame?.open ? await frame.client.query(sql, params) : await this.pool.query(sql, params);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
    } catch (e) {
      throw pgError(e);
    }
  }

  /** Versioned migrations, once, under an advisory lock: replicas starting together wait for the first. */
  private async migrate(): Promise<void> {
    const client = await this.pool.connect().catch((e: unknown) => Promise.reject(pgError(e)));
    let broken: Error | undefined;
    try {
      for (const sql of schemaInit(this.schema)) await client.query(sql);
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY.namespace, ADVISORY.migrations]);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
        );
        const v = Number((await client.query<{ v: string }>('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')).rows[0]!.v);
        for (let i = v; i < PG_MIGRATIONS.length; i++) {
          await client.query(PG_MIGRATIONS[i]!);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    } catch (e) {
      broken = pgError(e);
      throw broken;
    } finally {
      client.release(broken && SESSION_LOST.test((broken as PgError).code ?? '') ? broken : undefined);
    }
  }

  /** The schema version this database is at (for tests and /healthz-style checks). */
  async schemaVersion(): Promise<number> {
    return Number((await this.q('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations'))[0]!.v);
  }

  tx<T>(fn: (t: Store) => Promise<T>): Promise<T> {
    // One mutation transaction at a time across all replicas (held until COMMIT/ROLLBACK).
    // Mutation transactions (job row, Idempotency-Key, resource rows) are durable before they are acknowledged.
    return this.transaction(
      `BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock(${ADVISORY.namespace}, ${ADVISORY.mutations})`,
      fn,
    );
  }

  /**
   * Runs one write as a durable commit (waits for the WAL flush, which also flushes every earlier commit of this
   * session): a job's outcome and an idempotent answer, like SQLite's synchronous=FULL. Inside a transaction the
   * transaction's own commit decides.
   */
  private durable<T>(fn: () => Promise<T>): Promise<T> {
    if (this.scope.getStore()?.open) return fn();
    return this.transaction('BEGIN; SET LOCAL synchronous_commit = on', fn);
  }

  /** fn in a transaction opened by `begin` on one pooled client (a savepoint when one is already open). */
  private async transaction<T>(begin: string, fn: (t: Store) => Promise<T>): Promise<T> {
    const mine = this.scope.getStore();
    if (mine?.open) {
      // Nested: a savepoint, as on SQLite, so an inner failure undoes only the inner part.
      const sp = `sp${++mine.depth}`;
      await this.q(`SAVEPOINT ${sp}`);
      try {
        const r = await fn(this);
        await this.q(`RELEASE SAVEPOINT ${sp}`);
        return r;
      } catch (e) {
        await this.q(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw e;
      } finally {
        mine.depth--;
      }
    }
    const client = await this.pool.connect().catch((e: unknown) => Promise.reject(pgError(e)));
    const frame: TxFrame = { client, open: true, depth: 0 };
    // The driver's own errors get a code (pgError); what the callback throws (a conflict, a problem) goes out as it is.
    const onClient = (sql: string) => client.query(sql).catch((e: unknown) => Promise.reject(pgError(e)));
    let lost: Error | undefined;
    try {
      await onClient(begin);
      const r = await this.scope.run(frame, () => fn(this));
      await onClient('COMMIT');
      return r;
    } catch (e) {
      if (e instanceof PgError && e.code && SESSION_LOST.test(e.code)) lost = e;
      else {
        // The session is fine: roll back and reuse it. When even that fails, the client is not reused.
        await client.query('ROLLBACK').catch((e2: unknown) => (lost = pgError(e2)));
      }
      throw e;
    } finally {
      frame.open = false;
      client.release(lost);
    }
  }

  // ---- resources
  async insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    await this.q(
      `INSERT INTO resources (id,type,key,state,job_id,created_at,updated_at,data,secret,version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
      [r.id, r.type, r.key, r.state, r.jobId, r.createdAt, r.updatedAt, JSON.stringify(r.data), r.secret ? JSON.stringify(r.secret) : null],
    );
    return { ...r, secret: r.secret ?? null, version: 1 };
  }
  async updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    const n = (
      await this.run(
        `UPDATE resources SET key=$1, state=$2, job_id=$3, updated_at=$4, data=$5, secret=$6, version=version+1 WHERE id=$7 AND version=$8`,
        [r.key, r.state, r.jobId, r.updatedAt, JSON.stringify(r.data), r.secret ? JSON.stringify(r.secret) : null, r.id, r.version],
      )
    ).rowCount;
    if (n === 0) throw new VersionConflictError(r.id, r.version, await this.versionOf(r.id));
    return { ...r, version: r.version + 1 };
  }
  async patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    const args: unknown[] = [patch.updatedAt];
    const sets = ['updated_at=$1', 'version=version+1'];
    const set = (col: string, v: unknown) => {
      args.push(v);
      sets.push(`${col}=$${args.length}`);
    };
    if (patch.state !== undefined) set('state', patch.state);
    if (patch.jobId !== undefined) set('job_id', patch.jobId);
    if (patch.data !== undefined) set('data', JSON.stringify(patch.data));
    args.push(id);
    let cond = `id=$${args.length}`;
    if (expectedVersion !== undefined) {
      args.push(expectedVersion);
      cond += ` AND version=$${args.length}`;
    }
    const row = (await this.q(`UPDATE resources SET ${sets.join(', ')} WHERE ${cond} RETURNING *`, args))[0];
    if (row) return toResource(row);
    const current = await this.versionOf(id);
    if (current === null) return null;
    throw new VersionConflictError(id, expectedVersion!, current);
  }
  async deleteResource(id: string, expectedVersion?: number): Promise<boolean> {
    if (expectedVersion === undefined) return (await this.run(`DELETE FROM resources WHERE id=$1`, [id])).rowCount > 0;
    if ((await this.run(`DELETE FROM resources WHERE id=$1 AND version=$2`, [id, expectedVersion])).rowCount > 0) return true;
    const current = await this.versionOf(id);
    if (current === null) return false;
    throw new VersionConflictError(id, expectedVersion, current);
  }
  private async versionOf(id: string): Promise<number | null> {
    const r = (await this.q(`SELECT version FROM resources WHERE id=$1`, [id]))[0];
    return r ? Number(r.version) : null;
  }
  async getResource(id: string): Promise<ResourceRecord | null> {
    const r = (await this.q(`SELECT * FROM resources WHERE id=$1`, [id]))[0];
    return r ? toResource(r) : null;
  }
  async getResourceByKey(type: string, key: string): Promise<ResourceRecord | null> {
    const r = (await this.q(`SELECT * FROM resources WHERE type=$1 AND key=$2`, [type, key]))[0];
    return r ? toResource(r) : null;
  }
  async listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>> {
    const args: unknown[] = [];
    const cond = whereClause(type, q.where ?? {}, args);
    if (q.cursor) {
      args.push(q.cursor);
      cond.push(`id > $${args.length}`);
    }
    args.push(q.limit + 1);
    const rows = await this.q(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id LIMIT $${args.length}`, args);
    return page(rows.map(toResource), q.limit);
  }
  async allResources(type: string, where: Record<string, string | undefined> = {}): Promise<ResourceRecord[]> {
    const args: unknown[] = [];
    const cond = whereClause(type, where, args);
    return (await this.q(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id`, args)).map(toResource);
  }

  // ---- jobs
  async insertJob(j: JobRecord): Promise<void> {
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
      j.principal ? JSON.stringify(j.principal) : null,
      j.principal?.id ?? null,
    ];
    const insert = `INSERT INTO jobs (id,kind,status,resource_type,resource_id,hosts,done,total,error,created_at,started_at,finished_at,params,trace_id,parent_span_id,principal,principal_id)
      VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`;
    if (!this.replicaId) {
      await this.q(insert, args);
      return;
    }
    // Leased to this replica from the first instant: there is no moment at which the job exists unowned.
    await this.q(
      `WITH j AS (${insert} RETURNING id)
       INSERT INTO job_leases (job_id, owner, expires_at, attempt, claimed_at, heartbeat_at)
       SELECT id, $${args.length + 1}, now() + $${args.length + 2} * interval '1 millisecond', 1, now(), now() FROM j`,
      [...args, this.replicaId, this.leaseMs],
    );
  }
  async updateJob(j: JobRecord): Promise<void> {
    if (j.status === 'queued' || j.status === 'running') await this.writeJob(j);
    else await this.durable(() => this.writeJob(j));
  }
  private async writeJob(j: JobRecord): Promise<void> {
    // An interrupted job is final: a replica that lost its lease (stalled past it) cannot overwrite the verdict.
    await this.q(
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
  async getJob(id: string): Promise<JobRecord | null> {
    const r = (await this.q(`SELECT * FROM jobs WHERE id=$1`, [id]))[0];
    return r ? toJob(r) : null;
  }
  async listJobs(f: JobFilter): Promise<Page<JobRecord>> {
    const cond: string[] = ['TRUE'];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      cond.push(sql.replace('?', `$${args.length}`));
    };
    if (f.status) add('status = ?', f.status);
    if (f.kind) add('kind = ?', f.kind);
    if (f.resourceId) add('resource_id = ?', f.resourceId);
    if (f.principal) add('principal_id = ?', f.principal);
    if (f.cursor) add('id > ?', f.cursor);
    args.push(f.limit + 1);
    const rows = await this.q(`SELECT * FROM jobs WHERE ${cond.join(' AND ')} ORDER BY id LIMIT $${args.length}`, args);
    return page(rows.map(toJob), f.limit);
  }
  async appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine> {
    // seq = max + 1 in the statement itself: no per-process cache, so another replica (the one that interrupts a
    // job whose owner died) appends after the owner's last line. The primary key refuses a duplicate seq.
    const r = (
      await this.q(
        `WITH ins AS (
           INSERT INTO job_logs (job_id,seq,ts,host,stream,text,exit_code,ms)
           SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM job_logs WHERE job_id = $1
           RETURNING seq)
         SELECT seq, pg_notify('${JOB_CHANNEL}', $1) FROM ins`,
        [jobId, line.ts, line.host, line.stream, line.text, line.exitCode ?? null, line.ms ?? null],
      )
    )[0]!;
    return { seq: r.seq as number, ...line };
  }
  forgetJob(_jobId: string): void {}
  async getLogs(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    return (await this.q(`SELECT * FROM job_logs WHERE job_id=$1 AND seq>$2 ORDER BY seq LIMIT $3`, [jobId, after, limit])).map((r) => {
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
  async jobsWithStatus(statuses: readonly string[]): Promise<JobRecord[]> {
    if (!statuses.length) return [];
    return (await this.q(`SELECT * FROM jobs WHERE status = ANY($1::text[]) ORDER BY id`, [statuses])).map(toJob);
  }

  // ---- idempotency
  async getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    const r = (await this.q(`SELECT * FROM idempotency WHERE key=$1`, [key]))[0];
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
  async insertIdempotency(r: IdempotencyRecord): Promise<void> {
    // The primary key decides who owns a key: an expired record is replaced, a live one refuses the insert.
    const n = (
      await this.run(
        `INSERT INTO idempotency (key,fingerprint,job_id,response,created_at,expires_at) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (key) DO UPDATE SET fingerprint=EXCLUDED.fingerprint, job_id=EXCLUDED.job_id, response=EXCLUDED.response,
           created_at=EXCLUDED.created_at, expires_at=EXCLUDED.expires_at
         WHERE idempotency.expires_at < EXCLUDED.created_at`,
        [r.key, r.fingerprint, r.jobId, r.response ? JSON.stringify(r.response) : null, r.createdAt, r.expiresAt],
      )
    ).rowCount;
    if (n === 0) throw new IdempotencyKeyTakenError(r.key);
  }
  async setIdempotencyResponse(key: string, response: StoredResponse): Promise<void> {
    await this.durable(() => this.q(`UPDATE idempotency SET response=$1 WHERE key=$2`, [JSON.stringify(response), key]));
  }
  async idempotencyKeysForJob(jobId: string): Promise<string[]> {
    return (await this.q(`SELECT key FROM idempotency WHERE job_id=$1`, [jobId])).map((r) => r.key as string);
  }
  async deleteExpiredIdempotency(nowIso: string): Promise<number> {
    return (await this.run(`DELETE FROM idempotency WHERE expires_at < $1`, [nowIso])).rowCount;
  }

  // ---- tokens and the audit log (token writes are durable: a revoke acknowledged is a revoke kept)
  async insertToken(t: TokenRecord): Promise<void> {
    await this.durable(() =>
      this.q(`INSERT INTO tokens (id,name,hash,created_at,expires_at,revoked_at,data) VALUES ($1,$2,$3,$4,$5,$6,$7)`, [
        t.id,
        t.name,
        t.hash,
        t.createdAt,
        t.expiresAt,
        t.revokedAt,
        JSON.stringify(t.data),
      ]),
    );
  }
  async getToken(id: string): Promise<TokenRecord | null> {
    const r = (await this.q(`SELECT * FROM tokens WHERE id=$1`, [id]))[0];
    return r ? toToken(r) : null;
  }
  async getTokenByHash(hash: string): Promise<TokenRecord | null> {
    const r = (await this.q(`SELECT * FROM tokens WHERE hash=$1`, [hash]))[0];
    return r ? toToken(r) : null;
  }
  async listTokens(q: ListQuery): Promise<Page<TokenRecord>> {
    const rows = q.cursor
      ? await this.q(`SELECT * FROM tokens WHERE id > $1 ORDER BY id LIMIT $2`, [q.cursor, q.limit + 1])
      : await this.q(`SELECT * FROM tokens ORDER BY id LIMIT $1`, [q.limit + 1]);
    return page(rows.map(toToken), q.limit);
  }
  async revokeToken(id: string, at: string): Promise<TokenRecord | null> {
    await this.durable(() => this.q(`UPDATE tokens SET revoked_at=$1 WHERE id=$2 AND revoked_at IS NULL`, [at, id]));
    return this.getToken(id);
  }
  async appendAudit(e: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    const r = (
      await this.durable(() =>
        this.q(`INSERT INTO audit (ts,action,principal,data) VALUES ($1,$2,$3,$4) RETURNING seq`, [
          e.ts,
          e.action,
          e.principal,
          JSON.stringify(e.data),
        ]),
      )
    )[0]!;
    return { seq: Number(r.seq), ...e };
  }
  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const cond = ['seq > $1'];
    const args: unknown[] = [q.after ?? 0];
    if (q.principal) {
      args.push(q.principal);
      cond.push(`principal = $${args.length}`);
    }
    if (q.action) {
      args.push(q.action);
      cond.push(`action = $${args.length}`);
    }
    args.push(q.limit);
    const rows = await this.q(`SELECT * FROM audit WHERE ${cond.join(' AND ')} ORDER BY seq LIMIT $${args.length}`, args);
    return rows.map((r) => ({
      seq: Number(r.seq),
      ts: r.ts as string,
      action: r.action as string,
      principal: r.principal as string,
      data: JSON.parse(r.data as string) as AuditRecord['data'],
    }));
  }

  async probeWrite(): Promise<void> {
    // Assigning a transaction id is a write: it fails on a read-only (standby) server, and leaves nothing behind.
    await this.q(`SELECT txid_current()`);
  }

  /** Raw SQL (on the transaction's client inside tx), for the lease and recovery helpers that live beside it. */
  query(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.q(sql, params);
  }

  /** Connections this store holds (for tests and diagnostics). */
  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
