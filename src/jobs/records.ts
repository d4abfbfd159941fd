import type { ResourceRecord, Store } from '../store/types.js';

/** Applies a change to a resource record and stores it with a fresh updatedAt. */
export function touch(store: Store, rec: ResourceRecord, patch: Partial<ResourceRecord>): void {
  Object.assign(rec, patch, { updatedAt: new Date().toISOString() });
  store.updateResource(rec);
}

/** A new resource row, pending until the job that makes it on the hosts finishes. */
export function insertPending(store: Store, r: Pick<ResourceRecord, 'id' | 'type' | 'key' | 'jobId' | 'data'> & { secret?: ResourceRecord['secret'] }): void {
  const t = new Date().toISOString();
  store.insertResource({ ...r, state: 'pending', createdAt: t, updatedAt: t });
}
