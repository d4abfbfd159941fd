/**
 * POST /{bridges|tunnels|attachments|hosts}/{id}/repair and POST /topologies/{name}/repair: make the host(s) have
 * what the records say again, for objects the service owns only, as one logged job (src/kinds/repair.ts).
 */
import { EtagHeaders } from '../preconditions.js';
import { createRoute, type z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { bridgeKind } from '../../kinds/bridge.js';
import { hostKind } from '../../kinds/host.js';
import { renderTopology, topologyKind } from '../../kinds/topology.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import { AttachmentSchema } from '../../model/attachments.js';
import { BridgeSchema } from '../../model/bridges.js';
import { HostSchema } from '../../model/hosts.js';
import { JobSchema } from '../../model/jobs.js';
import type { AnyResource } from '../../model/resource-data.js';
import { TopologySchema } from '../../model/topologies.js';
import { TunnelSchema } from '../../model/tunnels.js';
import { acceptedResponse, idParam, IdOrNameParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { TopologyNameParam } from '../topologies/schema.js';
import { requireResource } from '../resources.js';
import { repairMutation } from './mutation.js';

const withJob = <S extends z.ZodObject>(schema: S, name: string) => schema.extend({ job: JobSchema }).openapi(name);

const what =
  'Reads what the host has, logs what differs from the record, and re-creates what is missing or resets what differs, as one job (steps that create something are undone if a later one fails). ' +
  "Only objects carrying this resource's netplumb mark are changed: an object of that name with another mark, or none, is left alone (409). " +
  'A `failed`, `unknown` or `target-stopped` resource can be repaired; a stopped container leaves its attachment `target-stopped`.';

function repairRoute<P extends z.ZodObject>(o: {
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  extra: string;
  params: P;
  schema: z.ZodObject;
  name: string;
}) {
  return createRoute({
    method: 'post',
    path: o.path,
    operationId: o.operationId,
    security: requires('write'),
    tags: [o.tag],
    summary: o.summary,
    description: `${o.extra} ${what}`,
    request: { params: o.params, headers: PreferHeader },
    responses: statusResponses({
      200: {
        description: 'Repaired (or nothing differed)',
        headers: EtagHeaders,
        content: { 'application/json': { schema: withJob(o.schema, o.name) } },
      },
      ...acceptedResponse,
      ...mutationErrorResponses,
    }),
  });
}

export const bridgeRoute = repairRoute({
  path: '/bridges/{id}/repair',
  operationId: 'repairBridge',
  tag: 'bridges',
  summary: 'Repair a bridge and what is on it',
  extra: 'The bridge (re-created when it was deleted by hand), then the tunnel ends and attachments on it.',
  params: idParam('bridge'),
  schema: BridgeSchema,
  name: 'BridgeRepaired',
});
export const tunnelRoute = repairRoute({
  path: '/tunnels/{id}/repair',
  operationId: 'repairTunnel',
  tag: 'tunnels',
  summary: 'Repair both ends of a tunnel',
  extra: "Each end on its host, under both hosts' locks.",
  params: idParam('tunnel'),
  schema: TunnelSchema,
  name: 'TunnelRepaired',
});
export const attachmentRoute = repairRoute({
  path: '/attachments/{id}/repair',
  operationId: 'repairAttachment',
  tag: 'attachments',
  summary: 'Repair an attachment (re-attach after a container restart)',
  extra:
    'The container is looked up again: a missing or broken veth pair is made again in its current namespace with the same names, addresses and MAC; what differs on a whole pair is reset in place.',
  params: idParam('attachment'),
  schema: AttachmentSchema,
  name: 'AttachmentRepaired',
});
export const hostRoute = repairRoute({
  path: '/hosts/{idOrName}/repair',
  operationId: 'repairHost',
  tag: 'hosts',
  summary: 'Repair everything the service owns on a host',
  extra:
    'Its bridges, then the tunnels with an end on it (the other hosts are locked too), then its attachments; one that cannot be repaired is logged and the rest still are.',
  params: IdOrNameParam,
  schema: HostSchema,
  name: 'HostRepaired',
});
export const topologyRoute = repairRoute({
  path: '/topologies/{name}/repair',
  operationId: 'repairTopology',
  tag: 'topologies',
  summary: 'Repair everything a topology owns',
  extra: 'Its bridges, tunnels and attachments, as the document last applied says.',
  params: TopologyNameParam,
  schema: TopologySchema,
  name: 'TopologyRepaired',
});

/** The kind's view of a resource it owns (the scope of a repair is typed as any resource). */
const view =
  <T extends AnyResource['type']>(type: T, render: (r: Extract<AnyResource, { type: T }>) => object) =>
  (r: AnyResource): object =>
    r.type === type ? render(r as Extract<AnyResource, { type: T }>) : {};

export const app = router()
  .openapi(bridgeRoute, (c) => {
    const deps = c.get('deps');
    return mutate(
      c,
      bridgeRoute,
      async () =>
        await repairMutation(
          deps,
          await requireResource(deps, bridgeKind, c.req.valid('param').id),
          view('bridge', (r) => bridgeKind.render(r)),
        ),
    );
  })
  .openapi(tunnelRoute, (c) => {
    const deps = c.get('deps');
    return mutate(
      c,
      tunnelRoute,
      async () =>
        await repairMutation(
          deps,
          await requireResource(deps, tunnelKind, c.req.valid('param').id),
          view('tunnel', (r) => tunnelKind.render(r)),
        ),
    );
  })
  .openapi(attachmentRoute, (c) => {
    const deps = c.get('deps');
    return mutate(
      c,
      attachmentRoute,
      async () =>
        await repairMutation(
          deps,
          await requireResource(deps, attachmentKind, c.req.valid('param').id),
          view('attachment', (r) => attachmentKind.render(r)),
        ),
    );
  })
  .openapi(hostRoute, (c) => {
    const deps = c.get('deps');
    return mutate(
      c,
      hostRoute,
      async () =>
        await repairMutation(
          deps,
          await requireResource(deps, hostKind, c.req.valid('param').idOrName),
          view('host', (r) => hostKind.render(r)),
        ),
    );
  })
  .openapi(topologyRoute, (c) => {
    const deps = c.get('deps');
    return mutate(
      c,
      topologyRoute,
      async () =>
        await repairMutation(
          deps,
          await requireResource(deps, topologyKind, c.req.valid('param').name),
          view('topology', async (t) => await renderTopology(deps.store, t)),
        ),
    );
  });
