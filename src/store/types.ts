/**
 * The Store interface, with two implementations: SQLite (sqlite.ts, embedded, the default) and PostgreSQL (postgres.ts,
 * for several replicas on one database; their coordination: coordination.ts, pg-coordination.ts).
 * It keeps records and knows no domain: resource data and job errors are JSON it stores and returns
 * as they were written; the resource kinds (src/kinds/) parse them when they read them.
 */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';
export type LogStream = 'cmd' | 'stdout' | 'stderr' | 'info' | 'error';

/** A JSON object as stored (parsed by whoever reads it). */
export type JsonObject = { [key: string]: unknown };

export interface ResourceRecord {
  id: string;
  type: string;
  /** Natural key, unique per type (host name; "hostId/bridgeName"; …). */
  key: string;
  /** Lifecycle state, written by the jobs layer (pending, ready, failed, deleting). */
  state: string;
  jobId: string | null;
  createdAt: string;
  updatedAt: string;
  data: unknown;
  /** Write-only material (SSH private keys). Never rendered. */
  secret?: Record<string, unknown> | null;
  /** Incremented by every write of the record (1 when inserted): writes compare and set on it; the API's ETag. */
  version: number;
}

/** A record to insert: the store gives it version 1. */
export type NewResourceRecord = Omit<ResourceRecord, 'version'> & { version?: number };

/** The fields of a resource one write changes, leaving the others (the secret, the key) as they are. */
export interface ResourcePatch {
  state?: string;
  jobId?: string | null;
  data?: unknown;
  updatedAt: string;
}

export interface JobRecord {
  id: string;
  kind: string;
  status: JobStatus;
  resource: { type: string; id: string };
  hosts: string[];
  progress: { done: number; total: number };
  /** The problem the job failed with (RFC 9457 shape, written by the jobs layer). */
  error: JsonObject | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * What the job's work needs besides its resource (JSON, written once at insert): lets a process other than the one
   * that accepted the request run it (a worker claiming a queued job; src/api/resume.ts). Null when none is needed.
   */
  params?: JsonObject | null;
  /** The trace the job belongs to (W3C trace id, 32 hex digits), and the span it was made under (its request's). */
  traceId?: string | null;
  parentSpanId?: string | null;
  /**
   * Who asked for the job (JSON written once at insert: the API's principal, with the claims it was mapped from); its
   * `id` is what `JobFilter.principal` matches. Null for the service's own jobs (the reconcile loop) and old rows.
   */
  principal?: (JsonObject & { id: string }) | null;
}

export interface LogLine {
  seq: number;
  ts: string;
  host: string | null;
  stream: LogStream;
  text: string;
  exitCode?: number;
  ms?: number;
}

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export interface IdempotencyRecord {
  key: string;
  fingerprint: string;
  jobId: string | null;
  response: StoredResponse | null;
  createdAt: string;
  expiresAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListQuery {
  limit: number;
  cursor?: string | undefined;
}

export interface JobFilter extends ListQuery {
  status?: JobStatus | undefined;
  kind?: string | undefined;
  resourceId?: string | undefined;
  /** The job's principal id (JobRecord.principal.id). */
  principal?: string | undefined;
}

/**
 * An API token as kept: never the token itself, only its SHA-256 (`hash`, hex), so the database does not hold it in
 * clear. `data` is the API's (scopes, restrictions, who made it), stored and returned as written.
 */
export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  data: JsonObject;
}

/** One entry of the append-only audit log: numbered by the store (`seq`, increasing), never changed or deleted. */
export interface AuditRecord {
  seq: number;
  ts: string;
  action: string;
  /** The principal's id (who did it, or who was refused). */
  principal: string;
  data: JsonObject;
}

export interface AuditQuery {
  limit: number;
  /** Entries after this seq. */
  after?: number | undefined;
  principal?: string | undefined;
  action?: string | undefined;
}

export interface Store {
  /**
   * Runs fn in one transaction: committed when it resolves, rolled back when it throws. Nothing else writes in
   * between (SQLite: one transaction at a time; PostgreSQL: the mutation lock across replicas). Store calls made in
   * fn's async context (on `t` or on this store) belong to the transaction; a nested tx is a savepoint. fn must do
   * nothing but store calls (no host I/O): others wait for it. When the store cannot write, it throws the storage
   * fault (StorageUnavailableError or the driver's error with its code), never resolves with a made-up value.
   */
  tx<T>(fn: (t: Store) => Promise<T>): Promise<T>;

  /** Inserts a new record at version 1 and returns it. */
  insertResource(r: NewResourceRecord): Promise<ResourceRecord>;
  /**
   * Rewrites the whole record (secret included) if it is still at r.version; returns it at its new version.
   * VersionConflictError when the stored record is at another version or gone.
   */
  updateResource(r: ResourceRecord): Promise<ResourceRecord>;
  /**
   * Changes only the patch's fields, if the record is at expectedVersion (when given); returns it at its new version.
   * Null when the record does not exist; VersionConflictError when it is at another version.
   */
  patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null>;
  /**
   * Deletes the record (only at expectedVersion, when given: VersionConflictError otherwise). False when it was not
   * there.
   */
  deleteResource(id: string, expectedVersion?: number): Promise<boolean>;
  getResource(id: string): Promise<ResourceRecord | null>;
  getResourceByKey(type: string, key: string): Promise<ResourceRecord | null>;
  /** `where` matches top-level fields of data (string equality). */
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>>;
  /** Every resource of a type (matching `where`), in id order: for checks that must see them all. */
  allResources(type: string, where?: Record<string, string | undefined>): Promise<ResourceRecord[]>;

  insertJob(j: JobRecord): Promise<void>;
  updateJob(j: JobRecord): Promise<void>;
  getJob(id: string): Promise<JobRecord | null>;
  listJobs(f: JobFilter): Promise<Page<JobRecord>>;
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine>;
  getLogs(jobId: string, after: number, limit: number): Promise<LogLine[]>;
  /** The job wrote its last line: drop per-job caches. */
  forgetJob(jobId: string): void;
  /** Jobs in one of these states (e.g. those a previous process left queued or running). */
  jobsWithStatus(statuses: readonly string[]): Promise<JobRecord[]>;

  getIdempotency(key: string): Promise<IdempotencyRecord | null>;
  /** Its key must be new or expired (an expired record is replaced): a live one throws IdempotencyKeyTakenError. */
  insertIdempotency(r: IdempotencyRecord): Promise<void>;
  setIdempotencyResponse(key: string, response: StoredResponse): Promise<void>;
  idempotencyKeysForJob(jobId: string): Promise<string[]>;
  deleteExpiredIdempotency(nowIso: string): Promise<number>;

  insertToken(t: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** The token whose SHA-256 this is (revoked and expired ones too: the caller decides). */
  getTokenByHash(hash: string): Promise<TokenRecord | null>;
  listTokens(q: ListQuery): Promise<Page<TokenRecord>>;
  /** Marks it revoked at `at` (once: a second revoke keeps the first time); null when there is no such token. */
  revokeToken(id: string, at: string): Promise<TokenRecord | null>;

  /** Appends an entry (the store numbers it); entries are never updated or deleted (the tables refuse it). */
  appendAudit(e: Omit<AuditRecord, 'seq'>): Promise<AuditRecord>;
  /** Entries in seq order, after `after`, matching principal/action. */
  listAudit(q: AuditQuery): Promise<AuditRecord[]>;

  /** Proves the store can write right now (a write that leaves nothing behind); rejects when it cannot. */
  probeWrite?(): Promise<void>;
  /** Makes overwritten and deleted values unrecoverable from the files (after secrets were re-sealed). */
  scrub?(): Promise<void>;

  close(): Promise<void>;
}

/**
 * A compare-and-set write found the record at another version than the one its writer read (someone else wrote it
 * in between), or gone. The writer re-reads and decides again; the API answers 412 when the client's If-Match is
 * stale.
 */
export class VersionConflictError extends Error {
  readonly code = 'VERSION_CONFLICT';
  constructor(
    readonly id: string,
    readonly expected: number,
    /** The stored version, or null when the record is gone. */
    readonly current: number | null,
  ) {
    super(
      current === null
        ? `resource ${id} was deleted (expected version ${expected})`
        : `resource ${id} is at version ${current}, not ${expected}: it changed since it was read`,
    );
    this.name = 'VersionConflictError';
  }
}

/**
 * insertIdempotency found the key held by a request that has not expired: the unique key decided (two requests with
 * one key, e.g. on two replicas). The mutation runs its transaction again and finds the winner's record.
 */
export class IdempotencyKeyTakenError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_TAKEN';
  constructor(key: string) {
    super(`Idempotency-Key ${JSON.stringify(key)} is already in use`);
    this.name = 'IdempotencyKeyTakenError';
  }
}
