/** Reference resolution: ids, or the natural names users type ("docker1", "docker1/ovs_bridge"). */
import { idPattern } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { readAll, readByKey, readResource } from '../jobs/records.js';
import type { Store } from '../store/types.js';
import type { TypedResource } from './kind.js';

/** A host by id or by name. */
export async function findHost(store: Store, ref: string): Promise<TypedResource<'host'> | null> {
  return idPattern('host').test(ref) ? await readResource(store, 'host', ref) : await readByKey(store, 'host', ref);
}

/** A bridge by id, or by natural name "host/bridge" (host as name or id). */
export async function findBridge(store: Store, ref: string): Promise<TypedResource<'bridge'> | null> {
  if (idPattern('bridge').test(ref)) return await readResource(store, 'bridge', ref);
  const slash = ref.indexOf('/');
  if (slash <= 0) return null;
  const host = await findHost(store, ref.slice(0, slash));
  return host ? await readByKey(store, 'bridge', `${host.id}/${ref.slice(slash + 1)}`) : null;
}

/** A 404 problem for a reference, with a pointer when it came from a request body field. */
export function notFound(noun: string, ref: string, pointer?: string, hint = ''): ProblemError {
  return new ProblemError(
    'not-found',
    `${noun} ${JSON.stringify(ref)} does not exist${hint}`,
    pointer ? { errors: [{ pointer, detail: `no such ${noun}` }] } : {},
  );
}

export async function requireHost(store: Store, ref: string, pointer?: string): Promise<TypedResource<'host'>> {
  const host = await findHost(store, ref);
  if (!host) throw notFound('host', ref, pointer);
  return host;
}

export async function requireBridge(store: Store, ref: string, pointer?: string): Promise<TypedResource<'bridge'>> {
  const bridge = await findBridge(store, ref);
  if (!bridge) throw notFound('bridge', ref, pointer, ' (use an id or "host/name")');
  return bridge;
}

/**
 * Names already used on a host, and by what. Interface names are per host, not per bridge: Linux devices share the
 * host's namespace and OVS port names are unique across all bridges of one database; an OVS bridge is a port too.
 */
export async function interfaceNamesOnHost(store: Store, hostId: string): Promise<Map<string, string>> {
  return interfaceNamesIn(
    {
      tunnels: await readAll(store, 'tunnel'),
      bridges: await readAll(store, 'bridge', { hostId }),
      attachments: await readAll(store, 'attachment', { hostId }),
    },
    hostId,
  );
}

/** The resources that name interfaces on hosts, read once (for checks over many hosts). */
export interface NamedInterfaces {
  tunnels: TypedResource<'tunnel'>[];
  bridges: TypedResource<'bridge'>[];
  attachments: TypedResource<'attachment'>[];
}

export async function readNamedInterfaces(store: Store): Promise<NamedInterfaces> {
  return {
    tunnels: await readAll(store, 'tunnel'),
    bridges: await readAll(store, 'bridge'),
    attachments: await readAll(store, 'attachment'),
  };
}

/** interfaceNamesOnHost over resources already read. */
export function interfaceNamesIn(all: NamedInterfaces, hostId: string): Map<string, string> {
  const used = new Map<string, string>();
  for (const tunnel of all.tunnels) {
    for (const end of tunnel.data.endpoints) if (end.hostId === hostId) used.set(end.portName, tunnel.id);
  }
  for (const bridge of all.bridges) if (bridge.data.hostId === hostId) used.set(bridge.data.name, bridge.id);
  for (const attachment of all.attachments)
    if (attachment.data.hostId === hostId && attachment.data.hostIfname) used.set(attachment.data.hostIfname, attachment.id);
  return used;
}

/** A resource a topology owns changes only through that topology (its document is the desired state). */
export function requireNotOwned(r: { id: string; type: string; data: unknown }, noun: string): void {
  const topology = r.type !== 'topology' && r.data && typeof r.data === 'object' && 'topology' in r.data ? r.data.topology : undefined;
  if (typeof topology === 'string') {
    throw new ProblemError(
      'conflict',
      `${noun} ${r.id} belongs to topology ${JSON.stringify(topology)}: change it through PUT /topologies/${topology} (or delete the topology)`,
      { topology },
    );
  }
}

/** A resource another job is still working on cannot be changed or deleted yet; ready and failed ones can. */
export function requireSettled(rec: { id: string; state: string; jobId: string | null }, noun: string): void {
  if (rec.state === 'pending' || rec.state === 'deleting') {
    throw new ProblemError(
      'conflict',
      `${noun} ${rec.id} is ${rec.state}; wait for its job ${rec.jobId}`,
      rec.jobId ? { jobId: rec.jobId } : {},
    );
  }
}

/**
 * A host whose last probe failed: 503 `host-unreachable` (retryable, with Retry-After) rather than a conflict, since
 * the service re-probes it by itself (src/reconcile/loop.ts). A pinned host key that no longer matches is its own 503.
 */
export function requireHostAvailable(host: {
  id: string;
  state: string;
  data: { name: string; facts: { reachable: boolean; problem?: { type: string } | undefined } | null };
}): void {
  const facts = host.data.facts;
  if (host.state !== 'failed' && facts?.reachable !== false) return;
  if (facts?.problem?.type.endsWith('/host-key-mismatch'))
    throw new ProblemError('host-key-mismatch', `host ${host.data.name}'s key no longer matches the pinned one (last probe)`, {
      host: host.data.name,
    });
  throw new ProblemError(
    'host-unreachable',
    `host ${host.data.name} did not answer its last probe; the service probes it again by itself: retry after a while`,
    { host: host.data.name },
  );
}
