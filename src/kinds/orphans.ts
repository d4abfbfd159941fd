/** Orphans: objects on a host marked with the id of a record that does not exist (a lost outcome, a crash, another store). */
import { nowIso } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import { markedObjectCommands, parseMarkedObjects, removeOrphansPlan, type MarkedObject } from '../ops/orphans.js';
import type { Store } from '../store/types.js';
import type { HostReader } from './kind.js';

/** What an orphan is, for the routes that answer with them (the API layer does not import ops/). */
export type { MarkedObject };

export async function orphansAmong(store: Store, marked: readonly MarkedObject[]): Promise<MarkedObject[]> {
  const owners = new Set(marked.map((o) => o.owner));
  const existing = new Set<string>();
  for (const id of owners) if (await store.getResource(id)) existing.add(id);
  return marked.filter((o) => !existing.has(o.owner));
}

export async function findOrphans(hosts: HostReader, store: Store, hostId: string): Promise<{ observedAt: string; items: MarkedObject[] }> {
  const marked = parseMarkedObjects(await hosts.read(hostId, markedObjectCommands()));
  return { observedAt: nowIso(), items: await orphansAmong(store, marked) };
}

/** The job's work: read the marks again under the host's lock, remove what is still orphaned. */
export async function removeOrphans(ctx: JobContext, hostId: string): Promise<MarkedObject[]> {
  const orphans = await orphansAmong(ctx.store, parseMarkedObjects(await ctx.read(hostId, markedObjectCommands())));
  const steps = removeOrphansPlan(hostId, orphans);
  if (!orphans.length) ctx.log(ctx.host(hostId).name, 'info', 'no orphans');
  if (steps.length < orphans.length)
    ctx.log(ctx.host(hostId).name, 'error', 'orphans whose names are not plain interface names were left alone');
  if (steps.length) await ctx.runPlan({ steps });
  return orphans.filter((o) => steps.some((s) => s.argv.includes(o.name)));
}
