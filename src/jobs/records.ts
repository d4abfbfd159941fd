import type { ResourceRecord, Store } from '../store/types.js';

/** Applies a change to a resource record and stores it with a fresh updatedAt. */
export function touch(store: Store, rec: ResourceRecord, patch: Partial<ResourceRecord>): void {
  Object.assign(rec, patch, { updatedAt: new Date().toISOString() });
  store.updateResource(rec);
}
