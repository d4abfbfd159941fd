import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { insertPending, readResource } from '../../jobs/records.js';
import { bridgeKind, createBridge, resolveDatapath } from '../../kinds/bridge.js';
import { requireHost, requireHostAvailable } from '../../kinds/refs.js';
import { BridgeCreateSchema, type BridgeCreate, type BridgeData } from '../../model/bridges.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { acceptedResponse, createdHeaders, PreferHeader, router } from '../common.js';
import { CONVERGIBLE, repairMutation } from '../repair/mutation.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { BridgeWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/bridges',
  operationId: 'createBridge',
  security: requires('write'),
  tags: ['bridges'],
  summary: 'Create an OVS or Linux bridge on a host',
  description:
    "The seed's `ovs-vsctl add-br ovs_bridge` + `ip addr add dev ovs_bridge 10.11.12.1/24` + `ip link set up`, as one job that converges and undoes itself on failure.",
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: BridgeCreateSchema } } } },
  responses: statusResponses({
    201: {
      description: 'Bridge created',
      headers: createdHeaders('bridges', 'bridge'),
      content: { 'application/json': { schema: BridgeWithJobSchema } },
    },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, async () => {
    const host = await requireHost(deps.store, body.host, '/host');
    requireHostAvailable(host);
    const key = `${host.id}/${body.name}`;
    const existing = await deps.store.getResourceByKey('bridge', key);
    const own = existing && (await readResource(deps.store, 'bridge', existing.id));
    // The same request again for a record of ours whose job failed, was interrupted or lost its outcome: converge it.
    if (own && CONVERGIBLE.has(own.state) && sameBridge(own.data, body)) {
      return await repairMutation(deps, own, (r) => (r.type === 'bridge' ? bridgeKind.render(r) : {}), 201);
    }
    if (existing) {
      throw new ProblemError('conflict', `bridge ${host.data.name}/${body.name} already exists (${existing.id})`, {
        errors: [{ pointer: '/name', detail: 'already exists on this host' }],
        existing: existing.id,
      });
    }
    const data: BridgeData = {
      hostId: host.id,
      hostName: host.data.name,
      name: body.name,
      type: body.type,
      datapathType: resolveDatapath(body, host.data),
      addresses: body.addresses,
      mtu: body.mtu ?? null,
      stp: body.stp,
      labels: body.labels,
      overlayMtu: null,
      adopted: body.adopt,
    };
    const id = newId('bridge');
    return {
      job: { kind: 'bridge.create', resource: { type: 'bridge', id }, hosts: [host.id] },
      prepare: async (job) => await insertPending(deps.store, { id, type: 'bridge', key, jobId: job.id, data }),
      work: (ctx) => createBridge(ctx, id),
      successStatus: 201,
      render: async () => {
        const bridge = await readResource(deps.store, 'bridge', id);
        return bridge ? bridgeKind.render(bridge) : {};
      },
    };
  });
});

/** The request asks for what the record already says (what the host gets: type, addresses, MTU, STP). */
function sameBridge(d: BridgeData, body: BridgeCreate): boolean {
  const set = (a: readonly string[]) => JSON.stringify([...a].sort());
  return d.type === body.type && set(d.addresses) === set(body.addresses) && d.mtu === (body.mtu ?? null) && d.stp === body.stp;
}
