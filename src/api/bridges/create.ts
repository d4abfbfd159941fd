import { createRoute } from '@hono/zod-openapi';
import { BridgeCreateSchema, renderBridge, type BridgeCreate, type BridgeData } from '../../model/bridges.js';
import type { HostData } from '../../model/hosts.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { createBridge } from '../../jobs/bridges.js';
import type { ResourceRecord } from '../../store/types.js';
import { acceptedResponse, PreferHeader, requireHost, router } from '../common.js';
import { insertPending } from '../../jobs/records.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';
import { BridgeWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/bridges',
  tags: ['bridges'],
  summary: 'Create an OVS or Linux bridge on a host',
  description: 'The seed\'s `ovs-vsctl add-br ovs_bridge` + `ip addr add dev ovs_bridge 10.11.12.1/24` + `ip link set up`, as one job that converges and undoes itself on failure.',
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: BridgeCreateSchema } } } },
  responses: {
    201: { description: 'Bridge created', content: { 'application/json': { schema: BridgeWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  },
});

/** auto → system when the host's OVS has the kernel datapath and the module, else netdev (userspace). */
export function resolveDatapath(body: BridgeCreate, host: ResourceRecord): BridgeData['datapathType'] {
  const hd = host.data as unknown as HostData;
  if (body.type === 'linux') {
    if (body.datapathType !== 'auto') throw ProblemError.validation([{ pointer: '/datapathType', detail: 'only OVS bridges have a datapath type' }]);
    return null;
  }
  if (!hd.facts?.reachable) {
    throw new ProblemError('conflict', `host ${hd.name} has not been probed successfully; POST /hosts/${hd.name}/probe first`);
  }
  const types = hd.facts.ovs?.datapathTypes ?? [];
  if (!hd.facts.ovs) throw ProblemError.validation([{ pointer: '/host', detail: `host ${hd.name} has no Open vSwitch (according to its last probe)` }]);
  const system = types.includes('system') && !!hd.facts.kernelModules?.openvswitch;
  if (body.datapathType === 'system') {
    if (!system) throw ProblemError.validation([{ pointer: '/datapathType', detail: `host ${hd.name} has no kernel datapath (openvswitch module absent); use netdev or auto` }]);
    return 'system';
  }
  if (body.datapathType === 'netdev' || !system) {
    if (!types.includes('netdev')) throw ProblemError.validation([{ pointer: '/datapathType', detail: `host ${hd.name}'s OVS offers neither a usable system nor the netdev datapath` }]);
    return 'netdev';
  }
  return 'system';
}

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, deps, () => {
    const host = requireHost(deps.store, body.host, '/host');
    const hd = host.data as unknown as HostData;
    const key = `${host.id}/${body.name}`;
    const existing = deps.store.getResourceByKey('bridge', key);
    if (existing) {
      throw new ProblemError('conflict', `bridge ${hd.name}/${body.name} already exists (${existing.id})`, { errors: [{ pointer: '/name', detail: 'already exists on this host' }], existing: existing.id });
    }
    const data: BridgeData = {
      hostId: host.id, hostName: hd.name, name: body.name, type: body.type, datapathType: resolveDatapath(body, host),
      addresses: body.addresses, mtu: body.mtu ?? null, stp: body.stp, labels: body.labels, overlayMtu: null, adopted: body.adopt,
    };
    const id = newId('bridge');
    return {
      job: { kind: 'bridge.create', resource: { type: 'bridge', id }, hosts: [host.id] },
      prepare: (job) => insertPending(deps.store, { id, type: 'bridge', key, jobId: job.id, data: data as never }),
      work: (ctx) => createBridge(ctx, id),
      successStatus: 201,
      render: () => renderBridge(deps.store.getResource(id)!),
    };
  }) as never;
});
