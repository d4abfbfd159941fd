/** A Store that hands every call to another: the base of store decorators (sealed secrets, write faults). */
import type { IdempotencyRecord, JobFilter, JobRecord, ListQuery, LogLine, Page, ResourceRecord, Store, StoredResponse } from './types.js';

export class ForwardingStore implements Store {
  constructor(protected readonly inner: Store) {}

  tx<T>(fn: () => T): T {
    return this.inner.tx(fn);
  }

  insertResource(r: ResourceRecord): void {
    this.inner.insertResource(r);
  }
  updateResource(r: ResourceRecord): void {
    this.inner.updateResource(r);
  }
  deleteResource(id: string): void {
    this.inner.deleteResource(id);
  }
  getResource(id: string): ResourceRecord | null {
    return this.inner.getResource(id);
  }
  getResourceByKey(type: string, key: string): ResourceRecord | null {
    return this.inner.getResourceByKey(type, key);
  }
  listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Page<ResourceRecord> {
    return this.inner.listResources(type, q);
  }
  allResources(type: string, where?: Record<string, string | undefined>): ResourceRecord[] {
    return this.inner.allResources(type, where);
  }

  insertJob(j: JobRecord): void {
    this.inner.insertJob(j);
  }
  updateJob(j: JobRecord): void {
    this.inner.updateJob(j);
  }
  getJob(id: string): JobRecord | null {
    return this.inner.getJob(id);
  }
  listJobs(f: JobFilter): Page<JobRecord> {
    return this.inner.listJobs(f);
  }
  appendLog(jobId: string, line: Omit<LogLine, 'seq'>): LogLine {
    return this.inner.appendLog(jobId, line);
  }
  getLogs(jobId: string, after: number, limit: number): LogLine[] {
    return this.inner.getLogs(jobId, after, limit);
  }
  forgetJob(jobId: string): void {
    this.inner.forgetJob(jobId);
  }
  jobsWithStatus(statuses: readonly string[]): JobRecord[] {
    return this.inner.jobsWithStatus(statuses);
  }

  getIdempotency(key: string): IdempotencyRecord | null {
    return this.inner.getIdempotency(key);
  }
  insertIdempotency(r: IdempotencyRecord): void {
    this.inner.insertIdempotency(r);
  }
  setIdempotencyResponse(key: string, response: StoredResponse): void {
    this.inner.setIdempotencyResponse(key, response);
  }
  idempotencyKeysForJob(jobId: string): string[] {
    return this.inner.idempotencyKeysForJob(jobId);
  }
  deleteExpiredIdempotency(nowIso: string): number {
    return this.inner.deleteExpiredIdempotency(nowIso);
  }

  probeWrite(): void {
    this.inner.probeWrite?.();
  }
  scrub(): void {
    this.inner.scrub?.();
  }

  close(): void {
    this.inner.close();
  }
}
