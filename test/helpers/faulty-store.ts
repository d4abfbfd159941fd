/** A store whose writes fail like SQLite's on a full disk, on demand: for fault drills without a full disk. */
import { ForwardingStore } from '../../src/store/forwarding.js';
import type {
  IdempotencyRecord,
  JobRecord,
  LogLine,
  NewResourceRecord,
  ResourcePatch,
  ResourceRecord,
  StoredResponse,
} from '../../src/store/types.js';

export function sqliteFull(): Error {
  return Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
}

export class FaultyStore extends ForwardingStore {
  /** Every write throws SQLITE_FULL while set. */
  full = false;
  /** Writes refused so far. */
  refused = 0;
  /** A write probe never answers while set (a database that accepts the connection and then hangs). */
  hangProbes = false;

  private w(): void {
    if (this.full) {
      this.refused++;
      throw sqliteFull();
    }
  }

  override async insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    this.w();
    return await super.insertResource(r);
  }
  override async updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    this.w();
    return await super.updateResource(r);
  }
  override async patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    this.w();
    return await super.patchResource(id, patch, expectedVersion);
  }
  override async deleteResource(id: string, expectedVersion?: number): Promise<boolean> {
    this.w();
    return await super.deleteResource(id, expectedVersion);
  }
  override async insertJob(j: JobRecord): Promise<void> {
    this.w();
    await super.insertJob(j);
  }
  override async updateJob(j: JobRecord): Promise<void> {
    this.w();
    await super.updateJob(j);
  }
  override async appendLog(jobId: string, line: Omit<LogLine, 'seq'>): Promise<LogLine> {
    this.w();
    return await super.appendLog(jobId, line);
  }
  override async insertIdempotency(r: IdempotencyRecord): Promise<void> {
    this.w();
    await super.insertIdempotency(r);
  }
  override async setIdempotencyResponse(key: string, response: StoredResponse): Promise<void> {
    this.w();
    await super.setIdempotencyResponse(key, response);
  }
  override async deleteExpiredIdempotency(nowIso: string): Promise<number> {
    this.w();
    return await super.deleteExpiredIdempotency(nowIso);
  }
  override async probeWrite(): Promise<void> {
    this.w();
    if (this.hangProbes) await new Promise(() => undefined);
    await super.probeWrite();
  }
}
