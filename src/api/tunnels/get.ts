import { EtagHeaders, etagOf } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import { TunnelSchema } from '../../model/tunnels.js';
import { idParam, router } from '../common.js';
import { errorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource, viewOf } from '../resources.js';
import { ObserveQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/tunnels/{id}',
  operationId: 'getTunnel',
  security: requires('read'),
  tags: ['tunnels'],
  summary: 'Get a tunnel (observe=true: both ends as the hosts have them)',
  description:
    "With `observe=true`, `observed.endpoints[]` holds each end's live state: for OVS ends the Interface's `error`, `ofport`, " +
    '`link_state` and the options actually set; for Linux ends the device from `ip -j -d link show`; plus drift from the spec.',
  request: { params: idParam('tunnel'), query: ObserveQuery },
  responses: statusResponses({
    200: { description: 'The tunnel', headers: EtagHeaders, content: { 'application/json': { schema: TunnelSchema } } },
    ...notFoundResponse,
    ...errorResponses,
    ...observeErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const tunnel = await requireResource(deps, tunnelKind, c.req.valid('param').id);
  c.header('ETag', etagOf(tunnel));
  return c.json(await viewOf(deps, tunnelKind, tunnel, c.req.valid('query').observe === 'true'), 200);
});
