/**
 * A principal's restrictions, checked on the job a mutation is about to make (inside its transaction, after the
 * resource rows are written, so a host being registered is checked with its labels): a topology outside its names,
 * or a host without its labels, is 403 `forbidden` and the transaction (job row included) is rolled back.
 */
import { missingHostLabel, topologyAllowed, type Principal } from '../model/principals.js';
import { ProblemError } from '../model/problems.js';
import { readResource } from '../jobs/records.js';
import type { JobRecord, Store } from '../store/types.js';

/**
 * The topology restriction by the request's path alone, before the mutation reads or validates anything, so a
 * principal learns nothing of a topology outside its reach (not even that its document would be a 422).
 */
export function checkPathReach(principal: Principal | undefined, path: string): void {
  if (!principal?.topologies || path.startsWith('/hosts')) return;
  const reach = principal.topologies.join(', ');
  const m = /^\/topologies\/([^/]+)/.exec(path);
  if (!m)
    throw new ProblemError('forbidden', `${principal.name} is restricted to topologies (${reach}): it cannot change ${path} directly`, {
      missing: { topology: reach.slice(0, 64) },
    });
  const name = decodeURIComponent(m[1]!);
  if (!topologyAllowed(principal, name))
    throw new ProblemError('forbidden', `the topology ${name} is outside what ${principal.name} may change (${reach})`, {
      missing: { topology: name.slice(0, 64) },
    });
}

export async function checkReach(store: Store, principal: Principal | undefined, job: JobRecord): Promise<void> {
  if (!principal) return;
  if (principal.topologies && job.resource.type !== 'host') {
    const reach = principal.topologies.join(', ');
    if (job.resource.type !== 'topology')
      throw new ProblemError(
        'forbidden',
        `${principal.name} is restricted to topologies (${reach}): it cannot change a ${job.resource.type} directly`,
        { missing: { topology: reach.slice(0, 64) } },
      );
    const name = (await store.getResource(job.resource.id))?.key ?? job.resource.id;
    if (!topologyAllowed(principal, name))
      throw new ProblemError('forbidden', `the topology ${name} is outside what ${principal.name} may change (${reach})`, {
        missing: { topology: name },
      });
  }
  if (principal.hostLabels) {
    for (const id of job.hosts) {
      const host = await readResource(store, 'host', id);
      const missing = missingHostLabel(principal, host?.data.labels);
      if (missing)
        throw new ProblemError(
          'forbidden',
          `the host ${host?.data.name ?? id} lacks the label ${missing} that ${principal.name} is restricted to`,
          { missing: { hostLabel: missing }, ...(host ? { host: host.data.name } : {}) },
        );
    }
  }
}
