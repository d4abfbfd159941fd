/**
 * A store that survives its storage failing (disk full, I/O errors) without losing a job's outcome.
 *
 * - Writes on the request path (outside a job) that hit a storage fault throw StorageUnavailableError: the
 *   transaction rolled back, nothing was done, the API answers 503 storage-unavailable with Retry-After.
 * - Writes made while a job runs (its log lines, progress, outcome, the records it changes, its idempotent
 *   answer: everything under withDeferredWrites) never throw a storage fault: they are kept in memory, in
 *   order, and written behind as soon as the store takes writes again. Once one is kept, every later job
 *   write queues behind it, so the store never sees them out of order. Reads see the kept writes (jobs,
 *   resources, log lines, idempotent answers), so `GET /jobs/{id}` and log streams show the truth meanwhile.
 * - A timer retries every retryMs; request-path writes and readiness checks retry at once. While anything is
 *   kept, request-path writes wait behind it (and get 503 if it still cannot be written).
 * - A process stopped with writes still kept loses them: their jobs are then still `running` in the store and
 *   are marked interrupted at the next start (jobs/recovery.ts).
 *
 * A transaction (tx) is never kept: it first writes what is kept (so a job's writes stay in order), then runs; when
 * the store cannot take it, it throws StorageUnavailableError (typed; a job fails with it, and its outcome is kept).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { describeFault, isStorageFault, StorageUnavailableError } from './faults.js';
import { ForwardingStore } from './forwarding.js';
import {
  VersionConflictError,
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
} from './types.js';

const jobScope = new AsyncLocalStorage<{ jobId: string }>();
/** Calls inside a transaction, or made while writing kept writes: straight to the inner store. */
const directScope = new AsyncLocalStorage<boolean>();

/** Runs a job (everything it awaits inherits this) so that its writes are kept, not thrown, when the store fails. */
export function withDeferredWrites<T>(jobId: string, fn: () => T): T {
  return jobScope.run({ jobId }, fn);
}

export interface StoreHealth {
  /** The last write (or probe) succeeded and nothing is waiting to be written. */
  writable: boolean;
  /** Writes kept in memory, waiting for the store. */
  pendingWrites: number;
  /** When the store started failing, and how. */
  since?: string;
  error?: string;
  retryAfterS: number;
}

export interface StoreStatus {
  health(): StoreHealth;
  /** Tries to write what is kept (or probes the store) now, then reports. */
  check(): Promise<StoreHealth>;
  /** This job has writes (its outcome, log lines, idempotent answer) not saved yet. */
  hasPendingWrites(jobId: string): boolean;
  /** Jobs whose latest state is kept in memory only. */
  pendingJobs(): Pick<JobRecord, 'id' | 'status'>[];
  /** Writes what is kept; true when nothing is left. */
  flush(): Promise<boolean>;
  close(): Promise<void>;
}

interface Kept {
  jobId: string;
  what: string;
  /** Not part of any job's outcome (cache upkeep that only waits its turn). */
  bookkeeping?: boolean;
  apply(): Promise<void>;
  /** The write reached the store: drop what reads saw of it in memory. */
  settled(): void;
}

export interface FaultTolerantOptions {
  /** How often to retry while failing. Default 1000 ms. */
  retryMs?: number;
  /** Retry-After for 503 answers. Default 5 s. */
  retryAfterS?: number;
  /** Where episodes are reported (loudly). */
  log?: (msg: string) => void;
}

const BATCH = 256;

/** How long a readiness probe of the store may take before the store counts as failing. */
export const PROBE_TIMEOUT_MS = 1500;

/** Runs the probe; a probe that has not answered within PROBE_TIMEOUT_MS is a storage fault. */
async function boundedProbe(probe: () => Promise<void> | void, retryAfterS: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StorageUnavailableError(`the store did not answer a write probe within ${PROBE_TIMEOUT_MS} ms`, retryAfterS)),
      PROBE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([Promise.resolve().then(probe), late]);
  } finally {
    clearTimeout(timer);
  }
}

type Kept1<T> = { value: T; apply: () => Promise<void>; settled?: () => void };
type Keep<T> = (jobId: string) => Kept1<T> | Promise<Kept1<T>>;

export class FaultTolerantStore extends ForwardingStore implements StoreStatus {
  private kept: Kept[] = [];
  private failure: { since: string; error: string } | null = null;
  private flushing: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly retryAfterS: number;
  private readonly report: (msg: string) => void;
  // What reads see of kept writes.
  private jobs = new Map<string, JobRecord>();
  private resources = new Map<string, ResourceRecord | null>();
  private logs = new Map<string, LogLine[]>();
  private responses = new Map<string, StoredResponse>();
  /** Last log seq per job seen written, to number kept lines like the store would. */
  private seqs = new Map<string, number>();

  constructor(inner: Store, opts: FaultTolerantOptions = {}) {
    super(inner);
    this.retryMs = opts.retryMs ?? 1000;
    this.retryAfterS = opts.retryAfterS ?? 5;
    this.report = opts.log ?? ((m) => console.error(`netplumb: ${m}`));
  }

  private get direct(): boolean {
    return directScope.getStore() === true;
  }

  // ---- the write path

  /** One write: straight through, kept (in a job), or refused with StorageUnavailableError (request path). */
  private async write<T>(what: string, run: () => Promise<T>, keep: Keep<T>): Promise<T> {
    if (this.direct) return run();
    const scope = jobScope.getStore();
    if (scope) {
      if (this.kept.length) return this.keep(scope.jobId, what, keep);
      try {
        const v = await run();
        this.recovered();
        return v;
      } catch (e) {
        if (!isStorageFault(e)) throw e;
        this.failed(e);
        return this.keep(scope.jobId, what, keep);
      }
    }
    if (this.kept.length && !(await this.flush())) throw this.unavailable();
    try {
      const v = await run();
      this.recovered();
      return v;
    } catch (e) {
      if (!isStorageFault(e)) throw e;
      this.failed(e);
      throw this.unavailable(e);
    }
  }

  private async keep<T>(jobId: string, what: string, keep: Keep<T>, bookkeeping = false): Promise<T> {
    const k = await keep(jobId);
    this.kept.push({ jobId, what, bookkeeping, apply: k.apply, settled: k.settled ?? (() => undefined) });
    this.startTimer();
    return k.value;
  }

  private unavailable(cause?: unknown): StorageUnavailableError {
    const why = this.failure?.error ?? (cause ? describeFault(cause) : 'writes are failing');
    return new StorageUnavailableError(
      `the store cannot save changes right now (${why}); nothing was changed: try again later`,
      this.retryAfterS,
      {},
      { cause },
    );
  }

  private failed(e: unknown): void {
    if (this.failure) return;
    this.failure = { since: new Date().toISOString(), error: describeFault(e) };
    this.report(
      `STORE FAILING: ${this.failure.error}. Requests that change state get 503 storage-unavailable; running jobs keep their outcome in memory until the store takes writes again.`,
    );
    this.startTimer();
  }

  private recovered(): void {
    if (!this.failure || this.kept.length) return;
    this.report(`store writable again (failing since ${this.failure.since}); all kept writes are saved`);
    this.failure = null;
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.check().then(() => {
        if (!this.failure && !this.kept.length) this.stopTimer();
      });
    }, this.retryMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Writes what is kept, in order (one flush at a time: callers share the one in progress). */
  flush(): Promise<boolean> {
    if (!this.kept.length) return Promise.resolve(true);
    this.flushing ??= directScope
      .run(true, () => this.flushKept())
      .catch((e: unknown) => {
        if (!isStorageFault(e)) throw e;
        this.failed(e);
        return false;
      })
      .finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushKept(): Promise<boolean> {
    while (this.kept.length) {
      const batch = this.kept.slice(0, BATCH);
      try {
        await this.inner.tx(async () => {
          for (const k of batch) await k.apply();
        });
      } catch (e) {
        this.forgetSeqs();
        if (isStorageFault(e)) {
          this.failed(e);
          return false;
        }
        // Not the storage: one of them can never be written. Go one by one and drop that one, loudly,
        // rather than hold every later write back forever.
        for (const k of batch) {
          try {
            await k.apply();
          } catch (e2) {
            this.forgetSeqs();
            if (isStorageFault(e2)) {
              this.failed(e2);
              return false;
            }
            this.report(
              `DROPPED a kept write that fails for a reason other than storage (${k.what}, job ${k.jobId}): ${describeFault(e2)}`,
            );
          }
          this.kept.shift();
          k.settled();
        }
        continue;
      }
      this.kept.splice(0, batch.length);
      for (const k of batch) k.settled();
    }
    this.jobs.clear();
    this.resources.clear();
    this.logs.clear();
    this.responses.clear();
    this.recovered();
    return true;
  }

  /** A rolled-back batch may have advanced the inner store's per-job log numbering: make it read it again. */
  private forgetSeqs(): void {
    for (const id of new Set(this.kept.map((k) => k.jobId))) this.inner.forgetJob(id);
  }

  // ---- status

  health(): StoreHealth {
    return {
      writable: !this.failure && !this.kept.length,
      pendingWrites: this.kept.length,
      ...(this.failure ? { since: this.failure.since, error: this.failure.error } : {}),
      retryAfterS: this.retryAfterS,
    };
  }

  /**
   * Proves it now (readiness): what is kept is written, or else a write probe goes to the store, bounded by
   * PROBE_TIMEOUT_MS — also while nothing is known to fail, so an idle replica whose database went away says so
   * within one probe rather than when its next request fails. A probe that fails or does not answer in time starts
   * the failing state (503s, writes kept in memory) like a failed write does.
   */
  async check(): Promise<StoreHealth> {
    if (this.kept.length) await this.flush();
    else if (this.inner.probeWrite) {
      try {
        await boundedProbe(this.inner.probeWrite.bind(this.inner), this.retryAfterS);
        this.recovered();
      } catch (e) {
        if (!isStorageFault(e)) throw e;
        this.failed(e);
      }
    }
    return this.health();
  }

  hasPendingWrites(jobId: string): boolean {
    return this.kept.some((k) => k.jobId === jobId && !k.bookkeeping);
  }

  pendingJobs(): Pick<JobRecord, 'id' | 'status'>[] {
    return [...this.jobs.values()].map((j) => ({ id: j.id, status: j.status }));
  }

  override async close(): Promise<void> {
    this.stopTimer();
    await super.close();
  }

  // ---- writes

  override async tx<T>(fn: (t: Store) => Promise<T>): Promise<T> {
    if (this.direct) return this.inner.tx(() => fn(this));
    // Whatever is kept goes first (a job's earlier writes stay before its transaction); a transaction is never kept.
    if (this.kept.length && !(await this.flush())) throw this.unavailable();
    try {
      const v = await directScope.run(true, () => this.inner.tx(() => fn(this)));
      this.recovered();
      return v;
    } catch (e) {
      if (!isStorageFault(e) || e instanceof StorageUnavailableError) throw e;
      this.failed(e);
      throw this.unavailable(e);
    }
  }

  override insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    const copy = structuredClone(r);
    const seen: ResourceRecord = { ...structuredClone(r), secret: r.secret ?? null, version: 1 };
    return this.resourceWrite(
      `insert resource ${r.id}`,
      r.id,
      seen,
      () => this.inner.insertResource(r),
      async () => void (await this.inner.insertResource(copy)),
    );
  }
  override updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    const copy = structuredClone(r);
    const seen: ResourceRecord = { ...structuredClone(r), version: r.version + 1 };
    return this.resourceWrite(
      `update resource ${r.id}`,
      r.id,
      seen,
      () => this.inner.updateResource(r),
      async () => void (await this.inner.updateResource(copy)),
    );
  }
  override patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    const copy = structuredClone(patch);
    // What reads see while it is kept: the patch on top of the record as known (kept, or stored when readable).
    const seen = async (): Promise<ResourceRecord | null> => {
      const known = this.resources.has(id) ? this.resources.get(id)! : await this.inner.getResource(id).catch(() => null);
      if (!known) return null;
      if (expectedVersion !== undefined && known.version !== expectedVersion)
        throw new VersionConflictError(id, expectedVersion, known.version);
      const next: ResourceRecord = { ...structuredClone(known), updatedAt: copy.updatedAt, version: known.version + 1 };
      if (copy.state !== undefined) next.state = copy.state;
      if (copy.jobId !== undefined) next.jobId = copy.jobId;
      if (copy.data !== undefined) next.data = structuredClone(copy.data);
      return next;
    };
    return this.resourceWrite(
      `patch resource ${id}`,
      id,
      seen,
      () => this.inner.patchResource(id, patch, expectedVersion),
      async () => void (await this.inner.patchResource(id, copy, expectedVersion)),
    );
  }
  override deleteResource(id: string, expectedVersion?: number): Promise<boolean> {
    return this.resourceWrite(
      `delete resource ${id}`,
      id,
      null,
      () => this.inner.deleteResource(id, expectedVersion),
      async () => void (await this.inner.deleteResource(id, expectedVersion)),
      true,
    );
  }
  /** seen: what reads get meanwhile (null: deleted; a function: worked out when kept); later: the write itself. */
  private resourceWrite<T>(
    what: string,
    id: string,
    seen: ResourceRecord | null | (() => Promise<ResourceRecord | null>),
    run: () => Promise<T>,
    later: () => Promise<void>,
    keptValue?: T,
  ): Promise<T> {
    return this.write(what, run, async () => {
      const shown = typeof seen === 'function' ? await seen() : seen;
      this.resources.set(id, shown);
      // Only if no later kept write replaced it (a later delete leaves null too: the store then agrees anyway).
      return {
        value: (keptValue ?? (shown ? structuredClone(shown) : null)) as T,
        apply: later,
        settled: () => {
          if (this.resources.get(id) === shown) this.resources.delete(id);
        },
      };
    });
  }

  override insertJob(j: JobRecord): Promise<void> {
    return this.jobWrite(
      'insert job',
      j,
      () => this.inner.insertJob(j),
      (c) => this.inner.insertJob(c),
    );
  }
  override updateJob(j: JobRecord): Promise<void> {
    return this.jobWrite(
      'update job',
      j,
      () => this.inner.updateJob(j),
      (c) => this.inner.updateJob(c),
    );
  }
  private jobWrite(what: string, j: JobRecord, run: () => Promise<void>, later: (copy: JobRecord) => Promise<void>): Promise<void> {
    return this.write(`${what} ${j.id}`, run, () => {
      const copy = structuredClone(j);
      this.jobs.set(j.id, copy);
      return {
        value: undefined,
        apply: () => later(copy),
        settled: () => {
          if (this.jobs.get(j.id) === copy) this.jobs.delete(j.id);
        },
      };
    });
  }

  override async appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine> {
    const written = await this.write(
      `log line of ${jobId}`,
      () => this.inner.appendLog(jobId, line),
      async () => {
        const kept: LogLine = { seq: (await this.lastSeq(jobId)) + 1, ...structuredClone(line) };
        this.seqs.set(jobId, kept.seq);
        const lines = this.logs.get(jobId) ?? [];
        lines.push(kept);
        this.logs.set(jobId, lines);
        return {
          value: kept,
          apply: async () => {
            const l = await this.inner.appendLog(jobId, line);
            if (l.seq !== kept.seq) this.report(`log line of ${jobId} saved as seq ${l.seq}, shown as ${kept.seq} while kept`);
          },
          settled: () => {
            this.logs.get(jobId)?.shift();
          },
        };
      },
    );
    this.seqs.set(jobId, written.seq);
    return written;
  }
  private async lastSeq(jobId: string): Promise<number> {
    const known = this.seqs.get(jobId);
    if (known !== undefined) return known;
    let last = 0;
    try {
      for (let page = await this.inner.getLogs(jobId, 0, 10_000); page.length; page = await this.inner.getLogs(jobId, last, 10_000))
        last = page[page.length - 1]!.seq;
    } catch {
      // unreadable right now: number from what this process saw
    }
    return last;
  }

  override forgetJob(jobId: string): void {
    const forget = () => {
      this.seqs.delete(jobId);
      this.inner.forgetJob(jobId);
    };
    // Never fails; but while writes are kept it must wait its turn (the inner store numbers lines from its cache).
    if (this.kept.length && !this.direct)
      this.kept.push({
        jobId,
        what: `forget ${jobId}`,
        bookkeeping: true,
        apply: () => Promise.resolve(forget()),
        settled: () => undefined,
      });
    else forget();
  }

  override insertIdempotency(r: IdempotencyRecord): Promise<void> {
    return this.write(
      `insert idempotency key`,
      () => this.inner.insertIdempotency(r),
      () => {
        const copy = structuredClone(r);
        return { value: undefined, apply: () => this.inner.insertIdempotency(copy) };
      },
    );
  }
  override setIdempotencyResponse(key: string, response: StoredResponse): Promise<void> {
    return this.write(
      `idempotent answer`,
      () => this.inner.setIdempotencyResponse(key, response),
      () => {
        const copy = structuredClone(response);
        this.responses.set(key, copy);
        return {
          value: undefined,
          apply: () => this.inner.setIdempotencyResponse(key, copy),
          settled: () => {
            if (this.responses.get(key) === copy) this.responses.delete(key);
          },
        };
      },
    );
  }
  override deleteExpiredIdempotency(nowIso: string): Promise<number> {
    return this.write(
      'sweep idempotency keys',
      () => this.inner.deleteExpiredIdempotency(nowIso),
      () => ({ value: 0, apply: async () => void (await this.inner.deleteExpiredIdempotency(nowIso)) }),
    );
  }

  // ---- reads: the store, with what is kept in memory on top

  private get overlay(): boolean {
    return !this.direct && this.kept.length > 0;
  }

  override async getJob(id: string): Promise<JobRecord | null> {
    if (this.overlay && this.jobs.has(id)) return structuredClone(this.jobs.get(id)!);
    return this.inner.getJob(id);
  }
  override async listJobs(f: JobFilter): Promise<Page<JobRecord>> {
    const p = await this.inner.listJobs(f);
    if (!this.overlay) return p;
    return { ...p, items: p.items.map((j) => (this.jobs.has(j.id) ? structuredClone(this.jobs.get(j.id)!) : j)) };
  }
  override async getLogs(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    const stored = await this.inner.getLogs(jobId, after, limit);
    const kept = this.overlay ? this.logs.get(jobId) : undefined;
    if (!kept?.length) return stored;
    const from = stored.length ? stored[stored.length - 1]!.seq : after;
    return [...stored, ...kept.filter((l) => l.seq > from)].slice(0, limit);
  }
  override async getResource(id: string): Promise<ResourceRecord | null> {
    if (this.overlay && this.resources.has(id)) {
      const r = this.resources.get(id)!;
      return r ? structuredClone(r) : null;
    }
    return this.inner.getResource(id);
  }
  override async getResourceByKey(type: string, key: string): Promise<ResourceRecord | null> {
    const r = await this.inner.getResourceByKey(type, key);
    if (!this.overlay) return r;
    if (r && this.resources.has(r.id)) return this.getResource(r.id);
    for (const k of this.resources.values()) if (k && k.type === type && k.key === key) return structuredClone(k);
    return r;
  }
  override async listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>> {
    const p = await this.inner.listResources(type, q);
    return { ...p, items: this.withKept(p.items) };
  }
  override async allResources(type: string, where?: Record<string, string | undefined>): Promise<ResourceRecord[]> {
    return this.withKept(await this.inner.allResources(type, where));
  }
  override async jobsWithStatus(statuses: readonly string[]): Promise<JobRecord[]> {
    const stored = await this.inner.jobsWithStatus(statuses);
    if (!this.overlay) return stored;
    return stored.map((j) => (this.jobs.has(j.id) ? structuredClone(this.jobs.get(j.id)!) : j)).filter((j) => statuses.includes(j.status));
  }
  /** Stored rows with the kept (not yet written) version of each on top. */
  private withKept(rows: ResourceRecord[]): ResourceRecord[] {
    if (!this.overlay) return rows;
    return rows.flatMap((r) => {
      if (!this.resources.has(r.id)) return [r];
      const k = this.resources.get(r.id);
      return k ? [structuredClone(k)] : [];
    });
  }
  override async getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    const r = await this.inner.getIdempotency(key);
    if (r && this.overlay && this.responses.has(key)) return { ...r, response: structuredClone(this.responses.get(key)!) };
    return r;
  }
}
