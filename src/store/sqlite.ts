/**
 * SQLite store (better-sqlite3): WAL, synchronous=FULL, migrations in code. better-sqlite3 is synchronous and fast
 * (a call takes microseconds), so the tables are a synchronous class and the Store is a thin async face over it: a
 * call runs at once, unless a transaction is open and the caller is not part of it, in which case it waits for the
 * transaction to end (one connection: a write made meanwhile would otherwise join the transaction).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Database from 'better-sqlite3';
import { prepareDbFiles } from './files.js';
import {
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type JobFilter,
  type JobRecord,
  type ListQuery,
  type LogLine,
  type Page,
  type NewResourceRecord,
  type ResourcePatch,
  type ResourceRecord,
  type Store,
  type StoredResponse,
  type TokenRecord,
  type AuditQuery,
  type AuditRecord,
  VersionConflictError,
} from './types.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE resources (
     id TEXT PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, job_id TEXT,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL, secret TEXT);
   CREATE UNIQUE INDEX resources_key ON resources(type, key);
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, resource_type TEXT NOT NULL,
     resource_id TEXT NOT NULL, hosts TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER NOT NULL,
     error TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);
   CREATE INDEX jobs_status ON jobs(status);
   CREATE INDEX jobs_resource ON jobs(resource_id);
   CREATE TABLE job_logs (
     job_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, host TEXT, stream TEXT NOT NULL,
     text TEXT NOT NULL, exit_code INTEGER, ms REAL, PRIMARY KEY (job_id, seq));
   CREATE TABLE idempotency (
     key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, job_id TEXT, response TEXT,
     created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
   CREATE INDEX idempotency_job ON idempotency(job_id);`,
  // A job's parameters (see JobRecord.params).
  `ALTER TABLE jobs ADD COLUMN params TEXT;`,
  // The trace a job belongs to and the span it was made under (see JobRecord.traceId).
  `ALTER TABLE jobs ADD COLUMN trace_id TEXT; ALTER TABLE jobs ADD COLUMN parent_span_id TEXT;`,
  // Every write of a resource increments its version (compare-and-set writes, ETags).
  `ALTER TABLE resources ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
  // Principals (issue 29): API tokens (only their SHA-256), who asked for each job, and the append-only audit log.
  `CREATE TABLE tokens (
     id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
     expires_at TEXT, revoked_at TEXT, data TEXT NOT NULL);
   ALTER TABLE jobs ADD COLUMN principal TEXT;
   ALTER TABLE jobs ADD COLUMN principal_id TEXT;
   CREATE INDEX jobs_principal ON jobs(principal_id);
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, action TEXT NOT NULL, principal TEXT NOT NULL,
     data TEXT NOT NULL);
   CREATE INDEX audit_principal ON audit(principal);
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
];

type Row = Record<string, unknown>;

/** `type = ?` and one json_extract equality per defined `where` field (names checked: they go into SQL). */
function whereClause(type: string, where: Record<string, string | undefined>): { cond: string[]; args: unknown[] } {
  const cond = ['type = ?'];
  const args: unknown[] = [type];
  for (const [field, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(field)) throw new Error(`bad filter field ${field}`);
    cond.push(`json_extract(data, '$.${field}') = ?`);
    args.push(value);
  }
  return { cond, args };
}

function page<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, nextCursor: more ? items[items.length - 1]!.id : null };
}

/** The tables, synchronously (better-sqlite3). */
class SqliteTables {
  readonly db: Database.Database;
  /** Next log seq per job, cached while the job writes (cleared by forgetJob). */
  private seqs = new Map<string, number>();

  constructor(path: string) {
    prepareDbFiles(path);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a job row or idempotency key acknowledged to a client survives a power cut.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    // Overwritten values (a secret before it was sealed) are zeroed, not left in free space.
    this.db.pragma('secure_delete = ON');
    this.migrate();
  }

  private migrate(): void {
    const v = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = v; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]!);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  // ---- resources
  private toResource(r: Row): ResourceRecord {
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
  insertResource(r: NewResourceRecord): ResourceRecord {
    this.db
      .prepare(`INSERT INTO resources (id,type,key,state,job_id,created_at,updated_at,data,secret) VALUES (?,?,?,?,?,?,?,?,?)`)
      .run(
        r.id,
        r.type,
        r.key,
        r.state,
        r.jobId,
        r.createdAt,
        r.updatedAt,
        JSON.stringify(r.data),
        r.secret ? JSON.stringify(r.secret) : null,
      );
    return { ...r, secret: r.secret ?? null, version: 1 };
  }
  updateResource(r: ResourceRecord): ResourceRecord {
    const n = this.db
      .prepare(`UPDATE resources SET key=?, state=?, job_id=?, updated_at=?, data=?, secret=?, version=version+1 WHERE id=? AND version=?`)
      .run(
        r.key,
        r.state,
        r.jobId,
        r.updatedAt,
        JSON.stringify(r.data),
        r.secret ? JSON.stringify(r.secret) : null,
        r.id,
        r.version,
      ).changes;
    if (n === 0) throw new VersionConflictError(r.id, r.version, this.versionOf(r.id));
    return { ...r, version: r.version + 1 };
  }
  patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): ResourceRecord | null {
    const sets = ['updated_at=?', 'version=version+1'];
    const args: unknown[] = [patch.updatedAt];
    const set = (column: string, value: unknown) => {
      sets.push(`${column}=?`);
      args.push(value);
    };
    if (patch.state !== undefined) set('state', patch.state);
    if (patch.jobId !== undefined) set('job_id', patch.jobId);
    if (patch.data !== undefined) set('data', JSON.stringify(patch.data));
    args.push(id);
    let cond = 'id=?';
    if (expectedVersion !== undefined) {
      cond += ' AND version=?';
      args.push(expectedVersion);
    }
    const row = this.db.prepare(`UPDATE resources SET ${sets.join(', ')} WHERE ${cond} RETURNING *`).get(...args) as Row | undefined;
    if (row) return this.toResource(row);
    const current = this.versionOf(id);
    if (current === null) return null;
    throw new VersionConflictError(id, expectedVersion!, current);
  }
  deleteResource(id: string, expectedVersion?: number): boolean {
    if (expectedVersion === undefined) return this.db.prepare(`DELETE FROM resources WHERE id=?`).run(id).changes > 0;
    if (this.db.prepare(`DELETE FROM resources WHERE id=? AND version=?`).run(id, expectedVersion).changes > 0) return true;
    const current = this.versionOf(id);
    if (current === null) return false;
    throw new VersionConflictError(id, expectedVersion, current);
  }
  private versionOf(id: string): number | null {
    const r = this.db.prepare(`SELECT version FROM resources WHERE id=?`).get(id) as { version: number } | undefined;
    return r ? Number(r.version) : null;
  }
  getResource(id: string): ResourceRecord | null {
    const r = this.db.prepare(`SELECT * FROM resources WHERE id=?`).get(id) as Row | undefined;
    return r ? this.toResource(r) : null;
  }
  getResourceByKey(type: string, key: string): ResourceRecord | null {
    const r = this.db.prepare(`SELECT * FROM resources WHERE type=? AND key=?`).get(type, key) as Row | undefined;
    return r ? this.toResource(r) : null;
  }
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Page<ResourceRecord> {
    const { cond, args } = whereClause(type, q.where ?? {});
    if (q.cursor) {
      cond.push('id > ?');
      args.push(q.cursor);
    }
    const rows = this.db
      .prepare(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id LIMIT ?`)
      .all(...args, q.limit + 1) as Row[];
    return page(
      rows.map((r) => this.toResource(r)),
      q.limit,
    );
  }
  allResources(type: string, where: Record<string, string | undefined> = {}): ResourceRecord[] {
    const { cond, args } = whereClause(type, where);
    const rows = this.db.prepare(`SELECT * FROM resources WHERE ${cond.join(' AND ')} ORDER BY id`).all(...args) as Row[];
    return rows.map((r) => this.toResource(r));
  }

  // ---- jobs
  private toJob(r: Row): JobRecord {
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
  insertJob(j: JobRecord): void {
    this.db
      .prepare(
        `INSERT INTO jobs (id,kind,status,resource_type,resource_id,hosts,done,total,error,created_at,started_at,finished_at,params,trace_id,parent_span_id,principal,principal_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      )
      .run(
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
      );
  }
  updateJob(j: JobRecord): void {
    this.db
      .prepare(`UPDATE jobs SET status=?, hosts=?, done=?, total=?, error=?, started_at=?, finished_at=? WHERE id=?`)
      .run(
        j.status,
        JSON.stringify(j.hosts),
        j.progress.done,
        j.progress.total,
        j.error ? JSON.stringify(j.error) : null,
        j.startedAt,
        j.finishedAt,
        j.id,
      );
  }
  getJob(id: string): JobRecord | null {
    const r = this.db.prepare(`SELECT * FROM jobs WHERE id=?`).get(id) as Row | undefined;
    return r ? this.toJob(r) : null;
  }
  listJobs(f: JobFilter): Page<JobRecord> {
    const cond: string[] = ['1=1'];
    const args: unknown[] = [];
    if (f.status) {
      cond.push('status = ?');
      args.push(f.status);
    }
    if (f.kind) {
      cond.push('kind = ?');
      args.push(f.kind);
    }
    if (f.resourceId) {
      cond.push('resource_id = ?');
      args.push(f.resourceId);
    }
    if (f.principal) {
      cond.push('principal_id = ?');
      args.push(f.principal);
    }
    if (f.cursor) {
      cond.push('id > ?');
      args.push(f.cursor);
    }
    const rows = this.db.prepare(`SELECT * FROM jobs WHERE ${cond.join(' AND ')} ORDER BY id LIMIT ?`).all(...args, f.limit + 1) as Row[];
    return page(
      rows.map((r) => this.toJob(r)),
      f.limit,
    );
  }
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): LogLine {
    let seq = this.seqs.get(jobId);
    if (seq === undefined) {
      const r = this.db.prepare(`SELECT MAX(seq) AS m FROM job_logs WHERE job_id=?`).get(jobId) as { m: number | null };
      seq = r.m ?? 0;
    }
    seq += 1;
    this.db
      .prepare(`INSERT INTO job_logs (job_id,seq,ts,host,stream,text,exit_code,ms) VALUES (?,?,?,?,?,?,?,?)`)
      .run(jobId, seq, line.ts, line.host, line.stream, line.text, line.exitCode ?? null, line.ms ?? null);
    // Only once written: a failed write (disk full) must not leave a gap in the job's seq numbers.
    this.seqs.set(jobId, seq);
    return { seq, ...line };
  }
  forgetJob(jobId: string): void {
    this.seqs.delete(jobId);
  }
  getLogs(jobId: string, after: number, limit: number): LogLine[] {
    const rows = this.db.prepare(`SELECT * FROM job_logs WHERE job_id=? AND seq>? ORDER BY seq LIMIT ?`).all(jobId, after, limit) as Row[];
    return rows.map((r) => {
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
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY id`)
      .all(...statuses) as Row[];
    return rows.map((r) => this.toJob(r));
  }

  // ---- idempotency
  getIdempotency(key: string): IdempotencyRecord | null {
    const r = this.db.prepare(`SELECT * FROM idempotency WHERE key=?`).get(key) as Row | undefined;
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
    // The primary key decides: an expired record is replaced, a live one refuses the insert (as on PostgreSQL).
    const n = this.db
      .prepare(
        `INSERT INTO idempotency (key,fingerprint,job_id,response,created_at,expires_at) VALUES (?,?,?,?,?,?)
         ON CONFLICT (key) DO UPDATE SET fingerprint=excluded.fingerprint, job_id=excluded.job_id, response=excluded.response,
           created_at=excluded.created_at, expires_at=excluded.expires_at
         WHERE idempotency.expires_at < excluded.created_at`,
      )
      .run(r.key, r.fingerprint, r.jobId, r.response ? JSON.stringify(r.response) : null, r.createdAt, r.expiresAt).changes;
    if (n === 0) throw new IdempotencyKeyTakenError(r.key);
  }
  setIdempotencyResponse(key: string, response: StoredResponse): void {
    this.db.prepare(`UPDATE idempotency SET response=? WHERE key=?`).run(JSON.stringify(response), key);
  }
  idempotencyKeysForJob(jobId: string): string[] {
    return (this.db.prepare(`SELECT key FROM idempotency WHERE job_id=?`).all(jobId) as Row[]).map((r) => r.key as string);
  }
  deleteExpiredIdempotency(nowIso: string): number {
    return this.db.prepare(`DELETE FROM idempotency WHERE expires_at < ?`).run(nowIso).changes;
  }

  // ---- tokens and the audit log
  private toToken(r: Row): TokenRecord {
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
  insertToken(t: TokenRecord): void {
    this.db
      .prepare(`INSERT INTO tokens (id,name,hash,created_at,expires_at,revoked_at,data) VALUES (?,?,?,?,?,?,?)`)
      .run(t.id, t.name, t.hash, t.createdAt, t.expiresAt, t.revokedAt, JSON.stringify(t.data));
  }
  getToken(id: string): TokenRecord | null {
    const r = this.db.prepare(`SELECT * FROM tokens WHERE id=?`).get(id) as Row | undefined;
    return r ? this.toToken(r) : null;
  }
  getTokenByHash(hash: string): TokenRecord | null {
    const r = this.db.prepare(`SELECT * FROM tokens WHERE hash=?`).get(hash) as Row | undefined;
    return r ? this.toToken(r) : null;
  }
  listTokens(q: ListQuery): Page<TokenRecord> {
    const rows = q.cursor
      ? (this.db.prepare(`SELECT * FROM tokens WHERE id > ? ORDER BY id LIMIT ?`).all(q.cursor, q.limit + 1) as Row[])
      : (this.db.prepare(`SELECT * FROM tokens ORDER BY id LIMIT ?`).all(q.limit + 1) as Row[]);
    return page(
      rows.map((r) => this.toToken(r)),
      q.limit,
    );
  }
  revokeToken(id: string, at: string): TokenRecord | null {
    this.db.prepare(`UPDATE tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL`).run(at, id);
    return this.getToken(id);
  }
  appendAudit(e: Omit<AuditRecord, 'seq'>): AuditRecord {
    const r = this.db
      .prepare(`INSERT INTO audit (ts,action,principal,data) VALUES (?,?,?,?) RETURNING seq`)
      .get(e.ts, e.action, e.principal, JSON.stringify(e.data)) as { seq: number };
    return { seq: Number(r.seq), ...e };
  }
  listAudit(q: AuditQuery): AuditRecord[] {
    const cond = ['seq > ?'];
    const args: unknown[] = [q.after ?? 0];
    if (q.principal) {
      cond.push('principal = ?');
      args.push(q.principal);
    }
    if (q.action) {
      cond.push('action = ?');
      args.push(q.action);
    }
    const rows = this.db.prepare(`SELECT * FROM audit WHERE ${cond.join(' AND ')} ORDER BY seq LIMIT ?`).all(...args, q.limit) as Row[];
    return rows.map((r) => ({
      seq: Number(r.seq),
      ts: r.ts as string,
      action: r.action as string,
      principal: r.principal as string,
      data: JSON.parse(r.data as string) as AuditRecord['data'],
    }));
  }

  probeWrite(): void {
    this.db.transaction(() => {
      this.db.prepare(`INSERT INTO job_logs (job_id,seq,ts,stream,text) VALUES ('', -1, '', 'info', '')`).run();
      this.db.prepare(`DELETE FROM job_logs WHERE job_id='' AND seq=-1`).run();
    })();
  }
  scrub(): void {
    // secure_delete zeroed the old values in the database file; the WAL still has the old pages until reset.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    this.db.close();
  }
}

interface TxFrame {
  open: boolean;
  depth: number;
  ended: Promise<void>;
}

export class SqliteStore implements Store {
  private readonly t: SqliteTables;
  private readonly scope = new AsyncLocalStorage<TxFrame>();
  /** The transaction in progress: callers outside it wait for `ended`. */
  private current: TxFrame | null = null;

  constructor(path: string) {
    this.t = new SqliteTables(path);
  }

  /** Runs a synchronous call now, or once the open transaction (that the caller is not part of) has ended. */
  /**
   * fn's own commit without waiting for the disk (synchronous=NORMAL for that statement; outside a transaction only,
   * where the statement is its own commit): a job's log lines and progress, as on PostgreSQL. In WAL mode the next
   * FULL commit (the job's outcome, a mutation) syncs the log up to itself, so what a client was told stays; a power
   * cut can lose the last unsynced lines, never a job, a record or a key. Each fsync here runs on the event loop's
   * thread (better-sqlite3 is synchronous), which is why it is kept for what needs it.
   */
  private lightly<T>(fn: () => T): T {
    if (this.t.db.inTransaction) return fn();
    this.t.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.t.db.pragma('synchronous = FULL');
    }
  }

  private call<T>(fn: () => T): Promise<T> {
    const cur = this.current;
    if (cur && this.scope.getStore() !== cur) return cur.ended.then(() => this.call(fn));
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async tx<T>(fn: (t: Store) => Promise<T>): Promise<T> {
    const db = this.t.db;
    const mine = this.scope.getStore();
    if (mine && mine === this.current && mine.open) {
      // Nested: a savepoint, so an inner failure undoes only the inner part.
      const sp = `sp${++mine.depth}`;
      db.exec(`SAVEPOINT ${sp}`);
      try {
        const r = await fn(this);
        db.exec(`RELEASE ${sp}`);
        return r;
      } catch (e) {
        db.exec(`ROLLBACK TO ${sp}; RELEASE ${sp}`);
        throw e;
      } finally {
        mine.depth--;
      }
    }
    while (this.current) await this.current.ended;
    let end!: () => void;
    const frame: TxFrame = { open: true, depth: 0, ended: new Promise<void>((r) => (end = r)) };
    this.current = frame;
    try {
      db.exec('BEGIN IMMEDIATE');
      const r = await this.scope.run(frame, () => fn(this));
      db.exec('COMMIT');
      return r;
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    } finally {
      frame.open = false;
      this.current = null;
      end();
    }
  }

  insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    return this.call(() => this.t.insertResource(r));
  }
  updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    return this.call(() => this.t.updateResource(r));
  }
  patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    return this.call(() => this.t.patchResource(id, patch, expectedVersion));
  }
  deleteResource(id: string, expectedVersion?: number): Promise<boolean> {
    return this.call(() => this.t.deleteResource(id, expectedVersion));
  }
  getResource(id: string): Promise<ResourceRecord | null> {
    return this.call(() => this.t.getResource(id));
  }
  getResourceByKey(type: string, key: string): Promise<ResourceRecord | null> {
    return this.call(() => this.t.getResourceByKey(type, key));
  }
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>> {
    return this.call(() => this.t.listResources(type, q));
  }
  allResources(type: string, where?: Record<string, string | undefined>): Promise<ResourceRecord[]> {
    return this.call(() => this.t.allResources(type, where));
  }
  insertJob(j: JobRecord): Promise<void> {
    return this.call(() => this.t.insertJob(j));
  }
  updateJob(j: JobRecord): Promise<void> {
    // A job's progress commits without waiting for the disk; its outcome (a final status) waits, and flushes it too.
    if (j.status === 'queued' || j.status === 'running') return this.call(() => this.lightly(() => this.t.updateJob(j)));
    return this.call(() => this.t.updateJob(j));
  }
  getJob(id: string): Promise<JobRecord | null> {
    return this.call(() => this.t.getJob(id));
  }
  listJobs(f: JobFilter): Promise<Page<JobRecord>> {
    return this.call(() => this.t.listJobs(f));
  }
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine> {
    return this.call(() => this.lightly(() => this.t.appendLog(jobId, line)));
  }
  getLogs(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    return this.call(() => this.t.getLogs(jobId, after, limit));
  }
  forgetJob(jobId: string): void {
    this.t.forgetJob(jobId);
  }
  jobsWithStatus(statuses: readonly string[]): Promise<JobRecord[]> {
    return this.call(() => this.t.jobsWithStatus(statuses));
  }
  getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    return this.call(() => this.t.getIdempotency(key));
  }
  insertIdempotency(r: IdempotencyRecord): Promise<void> {
    return this.call(() => this.t.insertIdempotency(r));
  }
  setIdempotencyResponse(key: string, response: StoredResponse): Promise<void> {
    return this.call(() => this.t.setIdempotencyResponse(key, response));
  }
  idempotencyKeysForJob(jobId: string): Promise<string[]> {
    return this.call(() => this.t.idempotencyKeysForJob(jobId));
  }
  deleteExpiredIdempotency(nowIso: string): Promise<number> {
    return this.call(() => this.t.deleteExpiredIdempotency(nowIso));
  }
  insertToken(t: TokenRecord): Promise<void> {
    return this.call(() => this.t.insertToken(t));
  }
  getToken(id: string): Promise<TokenRecord | null> {
    return this.call(() => this.t.getToken(id));
  }
  getTokenByHash(hash: string): Promise<TokenRecord | null> {
    return this.call(() => this.t.getTokenByHash(hash));
  }
  listTokens(q: ListQuery): Promise<Page<TokenRecord>> {
    return this.call(() => this.t.listTokens(q));
  }
  revokeToken(id: string, at: string): Promise<TokenRecord | null> {
    return this.call(() => this.t.revokeToken(id, at));
  }
  appendAudit(e: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    return this.call(() => this.t.appendAudit(e));
  }
  listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return this.call(() => this.t.listAudit(q));
  }
  probeWrite(): Promise<void> {
    return this.call(() => this.t.probeWrite());
  }
  scrub(): Promise<void> {
    return this.call(() => this.t.scrub());
  }
  /** The raw database, for tests that inspect or break it. */
  get database(): Database.Database {
    return this.t.db;
  }
  async close(): Promise<void> {
    while (this.current) await this.current.ended;
    this.t.close();
  }
}
