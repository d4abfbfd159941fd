/** A store whose writes fail like SQLite's on a full disk, on demand: for fault drills without a full disk. */
import { ForwardingStore } from '../../src/store/forwarding.js';
import type { IdempotencyRecord, JobRecord, LogLine, ResourceRecord, StoredResponse } from '../../src/store/types.js';

export function sqliteFull(): Error {
  return Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
}

export class FaultyStore extends ForwardingStore {
  /** Every write throws SQLITE_FULL while set. */
  full = false;
  /** Writes refused so far. */
  refused = 0;

  private w(): void {
    if (this.full) {
      this.refused++;
      throw sqliteFull();
    }
  }

  override insertResource(r: ResourceRecord): void {
    this.w();
    super.insertResource(r);
  }
  override updateResource(r: ResourceRecord): void {
    this.w();
    super.updateResource(r);
  }
  override deleteResource(id: string): void {
    this.w();
    super.deleteResource(id);
  }
  override insertJob(j: JobRecord): void {
    this.w();
    super.insertJob(j);
  }
  override updateJob(j: JobRecord): void {
    this.w();
    super.updateJob(j);
  }
  override appendLog(jobId: string, line: Omit<LogLine, 'seq'>): LogLine {
    this.w();
    return super.appendLog(jobId, line);
  }
  override insertIdempotency(r: IdempotencyRecord): void {
    this.w();
    super.insertIdempotency(r);
  }
  override setIdempotencyResponse(key: string, response: StoredResponse): void {
    this.w();
    super.setIdempotencyResponse(key, response);
  }
  override deleteExpiredIdempotency(nowIso: string): number {
    this.w();
    return super.deleteExpiredIdempotency(nowIso);
  }
  override probeWrite(): void {
    this.w();
    super.probeWrite();
  }
}
