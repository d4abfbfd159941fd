import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { insertPending, readResource } from '../../jobs/records.js';
import { createTunnel, tunnelKind } from '../../kinds/tunnel.js';
import { resolveTunnel } from '../../kinds/tunnel-resolve.js';
import { newId } from '../../model/names.js';
import { TunnelCreateSchema, type TunnelCreate } from '../../model/tunnels.js';
import { acceptedResponse, createdHeaders, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { CONVERGIBLE, repairMutation } from '../repair/mutation.js';
import { findBridge } from '../../kinds/refs.js';
import { readAll } from '../../jobs/records.js';
import type { Store } from '../../store/types.js';
import { bodyErrorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { TunnelWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/tunnels',
  operationId: 'createTunnel',
  security: requires('write'),
  tags: ['tunnels'],
  summary: 'Create a GRE, VXLAN or Geneve tunnel between bridges on two hosts',
  description:
    "The seed's pair of `ovs-vsctl add-port ovs_bridge ovs_gre -- set interface ovs_gre type=gre options:remote_ip=…`, both ends, on both hosts, " +
    "in one job that holds both hosts' locks: each end's remote is the other host's `tunnelIp`; if the second end fails the first is undone. " +
    'OVS bridges get a tunnel port; Linux bridges get a vxlan, geneve or gretap device as a bridge port. ' +
    'The answer reports the overlay MTU (bridge MTU, or 1500, minus the encapsulation overhead: GRE 38, or 42 with a key; VXLAN 50; Geneve 58; ' +
    '+20 over IPv6), which also becomes `overlayMtu` on both bridges and the default MTU of attachments made on them afterwards.',
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: TunnelCreateSchema } } } },
  responses: statusResponses({
    201: {
      description: 'Both ends made',
      headers: createdHeaders('tunnels', 'tunnel'),
      content: { 'application/json': { schema: TunnelWithJobSchema } },
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
    // The same request again for a tunnel of ours whose job failed, was interrupted or lost its outcome: converge it.
    const own = await convergibleTunnel(deps.store, body);
    if (own) return await repairMutation(deps, own, (r) => (r.type === 'tunnel' ? tunnelKind.render(r) : {}), 201);
    const data = await resolveTunnel(deps.store, body);
    const id = newId('tunnel');
    const [a] = data.endpoints;
    return {
      job: { kind: 'tunnel.create', resource: { type: 'tunnel', id }, hosts: data.endpoints.map((e) => e.hostId) },
      prepare: async (job) =>
        await insertPending(deps.store, { id, type: 'tunnel', key: `${a.bridgeId}|${a.portName}`, jobId: job.id, data }),
      work: (ctx) => createTunnel(ctx, id),
      successStatus: 201,
      render: async () => {
        const tunnel = await readResource(deps.store, 'tunnel', id);
        return tunnel ? tunnelKind.render(tunnel) : {};
      },
    };
  });
});

/** A tunnel of ours between the same bridges, of the same type, key and ports, that did not settle. */
async function convergibleTunnel(store: Store, body: TunnelCreate) {
  const bridges = await Promise.all(body.endpoints.map(async (e) => (await findBridge(store, e.bridge))?.id));
  if (bridges.some((b) => !b)) return null;
  return (
    (await readAll(store, 'tunnel')).find(
      (t) =>
        CONVERGIBLE.has(t.state) &&
        t.data.type === body.type &&
        t.data.key === (body.key ?? null) &&
        t.data.dstPort === (body.dstPort ?? null) &&
        t.data.endpoints.every((e, i) => e.bridgeId === bridges[i] && (body.endpoints[i]!.portName ?? e.portName) === e.portName),
    ) ?? null
  );
}
