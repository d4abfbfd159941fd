/** A Store that hands every call to another: the base of store decorators (sealed secrets, write faults). */
import type {
  AuditQuery,
  AuditRecord,
  IdempotencyRecord,
  JobFilter,
  JobRecord,
  ListQuery,
  LogLine,
  NewResourceRecord,
  Page,
  ResourcePatch,
  ResourceRecord,
  Store,
  StoredResponse,
  TokenRecord,
} from './types.js';

export class ForwardingStore implements Store {
  constructor(protected readonly inner: Store) {}

  /** Calls inside fn go through this store (its decorations apply), and belong to the inner store's transaction. */
  tx<T>(fn: (t: Store) => Promise<T>): Promise<T> {
    return this.inner.tx(() => fn(this));
  }

  insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    return this.inner.insertResource(r);
  }
  updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    return this.inner.updateResource(r);
  }
  patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    return this.inner.patchResource(id, patch, expectedVersion);
  }
  deleteResource(id: string, expectedVersion?: number): Promise<boolean> {
    return this.inner.deleteResource(id, expectedVersion);
  }
  getResource(id: string): Promise<ResourceRecord | null> {
    return this.inner.getResource(id);
  }
  getResourceByKey(type: string, key: string): Promise<ResourceRecord | null> {
    return this.inner.getResourceByKey(type, key);
  }
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>> {
    return this.inner.listResources(type, q);
  }
  allResources(type: string, where?: Record<string, string | undefined>): Promise<ResourceRecord[]> {
    return this.inner.allResources(type, where);
  }

  insertJob(j: JobRecord): Promise<void> {
    return this.inner.insertJob(j);
  }
  updateJob(j: JobRecord): Promise<void> {
    return this.inner.updateJob(j);
  }
  getJob(id: string): Promise<JobRecord | null> {
    return this.inner.getJob(id);
  }
  listJobs(f: JobFilter): Promise<Page<JobRecord>> {
    return this.inner.listJobs(f);
  }
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine> {
    return this.inner.appendLog(jobId, line);
  }
  getLogs(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    return this.inner.getLogs(jobId, after, limit);
  }
  forgetJob(jobId: string): void {
    this.inner.forgetJob(jobId);
  }
  jobsWithStatus(statuses: readonly string[]): Promise<JobRecord[]> {
    return this.inner.jobsWithStatus(statuses);
  }

  getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    return this.inner.getIdempotency(key);
  }
  insertIdempotency(r: IdempotencyRecord): Promise<void> {
    return this.inner.insertIdempotency(r);
  }
  setIdempotencyResponse(key: string, response: StoredResponse): Promise<void> {
    return this.inner.setIdempotencyResponse(key, response);
  }
  idempotencyKeysForJob(jobId: string): Promise<string[]> {
    return this.inner.idempotencyKeysForJob(jobId);
  }
  deleteExpiredIdempotency(nowIso: string): Promise<number> {
    return this.inner.deleteExpiredIdempotency(nowIso);
  }

  insertToken(t: TokenRecord): Promise<void> {
    return this.inner.insertToken(t);
  }
  getToken(id: string): Promise<TokenRecord | null> {
    return this.inner.getToken(id);
  }
  getTokenByHash(hash: string): Promise<TokenRecord | null> {
    return this.inner.getTokenByHash(hash);
  }
  listTokens(q: ListQuery): Promise<Page<TokenRecord>> {
    return this.inner.listTokens(q);
  }
  revokeToken(id: string, at: string): Promise<TokenRecord | null> {
    return this.inner.revokeToken(id, at);
  }
  appendAudit(e: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    return this.inner.appendAudit(e);
  }
  listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return this.inner.listAudit(q);
  }

  async probeWrite(): Promise<void> {
    await this.inner.probeWrite?.();
  }
  async scrub(): Promise<void> {
    await this.inner.scrub?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
