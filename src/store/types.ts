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
}

export interface Store {
  /** Runs fn in one transaction (synchronous: nothing else interleaves). */
  tx<T>(fn: () => T): T;

  insertResource(r: ResourceRecord): void;
  updateResource(r: ResourceRecord): void;
  deleteResource(id: string): void;
  getResource(id: string): ResourceRecord | null;
  getResourceByKey(type: string, key: string): ResourceRecord | null;
  /** `where` matches top-level fields of data (string equality). */
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Page<ResourceRecord>;
  /** Every resource of a type (matching `where`), in id order: for checks that must see them all. */
  allResources(type: string, where?: Record<string, string | undefined>): ResourceRecord[];

  insertJob(j: JobRecord): void;
  updateJob(j: JobRecord): void;
  getJob(id: string): JobRecord | null;
  listJobs(f: JobFilter): Page<JobRecord>;
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): LogLine;
  getLogs(jobId: string, after: number, limit: number): LogLine[];
  /** The job wrote its last line: drop per-job caches. */
  forgetJob(jobId: string): void;
  /** Jobs in one of these states (e.g. those a previous process left queued or running). */
  jobsWithStatus(statuses: readonly string[]): JobRecord[];

  getIdempotency(key: string): IdempotencyRecord | null;
  /** Its key must be new or expired (an expired record is replaced): a live one throws IdempotencyKeyTakenError. */
  insertIdempotency(r: IdempotencyRecord): void;
  setIdempotencyResponse(key: string, response: StoredResponse): void;
  idempotencyKeysForJob(jobId: string): string[];
  deleteExpiredIdempotency(nowIso: string): number;

  /** Proves the store can write right now (a write that leaves nothing behind); throws when it cannot. */
  probeWrite?(): void;
  /** Makes overwritten and deleted values unrecoverable from the files (after secrets were re-sealed). */
  scrub?(): void;

  close(): void;
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
