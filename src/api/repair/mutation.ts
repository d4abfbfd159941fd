/** Repair as a mutation, the same for every kind: one job over the resource's scope, under every host it touches. */
import { readResource } from '../../jobs/records.js';
import { hostsOf } from '../../kinds/index.js';
import { requireHostAvailable, requireSettled } from '../../kinds/refs.js';
import { repairAll, repairScope } from '../../kinds/repair.js';
import { repairDockerMembers } from '../../kinds/topology-docker.js';
import type { AnyResource } from '../../model/resource-data.js';
import type { AppDeps } from '../../deps.js';
import type { Mutation } from '../mutation.js';

/** States a create may converge from when the same request comes again: the record is this service's own. */
export const CONVERGIBLE = new Set(['failed', 'unknown', 'target-stopped']);

/**
 * Refused (409) while another job works on it; 503 `host-unreachable` when a host it needs failed its last probe.
 * The scope is read again when the job starts (what changed while it waited for its locks is repaired too).
 * `successStatus` 201 is a create that converged onto an existing record.
 */
export async function repairMutation(
  deps: AppDeps,
  r: AnyResource,
  render: (r: AnyResource) => object,
  successStatus: 200 | 201 = 200,
): Promise<Mutation> {
  if (r.type !== 'host') requireSettled(r, r.type);
  const scope = await repairScope(deps, r);
  const hosts = [...new Set([...hostsOf(r), ...scope.flatMap(hostsOf)])];
  for (const h of hosts) {
    const host = await readResource(deps.store, 'host', h);
    if (host) requireHostAvailable(host);
  }
  const onlyAttachments = scope.every((x) => x.type === 'attachment');
  return {
    job: { kind: `${r.type}.repair`, resource: { type: r.type, id: r.id }, hosts, lockMode: onlyAttachments ? 'shared' : 'exclusive' },
    prepare: async (job) => {
      // Not the host's own record: its jobId is its last probe's.
      const rec = await deps.store.getResource(r.id);
      if (rec && r.type !== 'host') await deps.store.updateResource({ ...rec, jobId: job.id });
    },
    work: async (ctx) => {
      const fresh = (await readResource(ctx.store, r.type, r.id)) as AnyResource | null;
      if (!fresh) return;
      const now = await repairScope(ctx, fresh);
      ctx.log(null, 'info', `repairing ${now.length} resource(s): ${now.map((x) => x.id).join(', ') || 'none'}`);
      await repairAll(ctx, now);
      // Containers Docker joined to its published networks: their ports back on bridges that were made again.
      if (fresh.type === 'topology') await repairDockerMembers(ctx, fresh.data.name);
    },
    successStatus,
    render: async () => render(((await readResource(deps.store, r.type, r.id)) as AnyResource | null) ?? r),
  };
}
