/** What uses a bridge (attachments, tunnels), and removing it for a cascading delete. */
import type { ResourceRecord, Store } from '../store/types.js';
import type { JobContext } from './runner.js';

export type DependentDeleter = (ctx: JobContext, rec: ResourceRecord) => Promise<void>;

/** Filled in by the attachment and tunnel job modules (keeps the import graph one-way). */
export const dependentDeleters: Record<string, DependentDeleter> = {};

export function dependentsOf(store: Store, bridgeId: string): { items: ResourceRecord[]; hosts: string[] } {
  const items: ResourceRecord[] = [];
  for (const r of store.listResources('attachment', { limit: 10_000, where: { bridgeId } }).items) items.push(r);
  for (const type of ['tunnel']) {
    for (const r of store.listResources(type, { limit: 10_000 }).items) {
      const ends = (r.data as { endpoints?: { bridgeId: string; hostId: string }[] }).endpoints ?? [];
      if (ends.some((e) => e.bridgeId === bridgeId)) items.push(r);
    }
  }
  const hosts = new Set<string>();
  for (const r of items) {
    const d = r.data as { hostId?: string; endpoints?: { hostId: string }[] };
    if (d.hostId) hosts.add(d.hostId);
    for (const e of d.endpoints ?? []) hosts.add(e.hostId);
  }
  return { items, hosts: [...hosts] };
}

export async function deleteDependents(ctx: JobContext, items: ResourceRecord[]): Promise<void> {
  // Tunnels first (they span hosts), then attachments.
  const ordered = [...items].sort((a, b) => (a.type === b.type ? 0 : a.type === 'tunnel' ? -1 : 1));
  for (const r of ordered) {
    const del = dependentDeleters[r.type];
    if (!del) throw new Error(`no deleter for ${r.type}`);
    ctx.log(null, 'info', `cascade: deleting ${r.type} ${r.id}`);
    await del(ctx, r);
  }
}
