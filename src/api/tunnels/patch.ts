import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { checkTunnelImpairment, updateTunnelLive } from '../../kinds/impairments.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import { normalizeTunnelImpairment } from '../../model/impairments.js';
import { TunnelPatchSchema, type TunnelData } from '../../model/tunnels.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, EtagHeaders, IfMatchHeader } from '../preconditions.js';
import { updateMutation } from '../resources.js';
import { TunnelWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'patch',
  path: '/tunnels/{id}',
  operationId: 'updateTunnel',
  security: requires('write'),
  tags: ['tunnels'],
  summary: 'Impair the tunnel or take it down, live (impairment and link only)',
  description:
    '`impairment.aToB` applies to traffic from `endpoints[0]` to `endpoints[1]`, on the first host, as it enters the tunnel device ' +
    "(`bToA` on the second host): rate with tbf, loss with netem or else nftables `numgen random` on the device's egress hook, delay, jitter, " +
    'corruption and duplication with netem where the kernel has it (422 naming what is missing otherwise). `link: "down"` cuts the ' +
    "tunnel both ways: Linux ends' devices go down; OVS ends get OpenFlow `no-forward` and `no-receive` (runtime state of " +
    'ovs-vswitchd: observe reports it if a restart forgets it). Only ends on Linux bridges can be impaired: an OVS tunnel port has ' +
    'no kernel device of its own (422 saying so). Nothing else of a tunnel changes in place: delete and re-create it for that. ' +
    'A failure puts both hosts back.',
  request: {
    params: idParam('tunnel'),
    headers: PreferHeader.extend(IfMatchHeader.shape),
    body: { required: true, content: { 'application/json': { schema: TunnelPatchSchema } } },
  },
  responses: statusResponses({
    200: { description: 'Changed', headers: EtagHeaders, content: { 'application/json': { schema: TunnelWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, () =>
    updateMutation(
      deps,
      tunnelKind,
      c.req.valid('param').id,
      async (previous): Promise<TunnelData> => {
        const next: TunnelData = {
          ...previous,
          ...(body.impairment !== undefined ? { impairment: normalizeTunnelImpairment(body.impairment) } : {}),
          ...(body.link !== undefined ? { link: body.link } : {}),
        };
        await checkTunnelImpairment(deps.store, previous, next.impairment);
        return next;
      },
      updateTunnelLive,
      conditionsOf(c),
    ),
  );
});
