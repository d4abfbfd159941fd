import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { findBridge, findHost } from '../../kinds/refs.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import { ListQuerySchema, pageOf, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { TunnelListQuery, TunnelListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/tunnels',
  operationId: 'listTunnels',
  security: requires('read'),
  tags: ['tunnels'],
  summary: 'List tunnels (optionally those with an end on a host or bridge)',
  description: 'Tunnels in creation order, `limit` per page (follow `nextCursor`); `host` or `bridge` keep those with either end on it.',
  request: { query: ListQuerySchema.merge(TunnelListQuery) },
  responses: statusResponses({
    200: { description: 'A page of tunnels', content: { 'application/json': { schema: TunnelListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const host = q.host ? await findHost(store, q.host) : undefined;
  const bridge = q.bridge ? await findBridge(store, q.bridge) : undefined;
  if (host === null || bridge === null) return c.json({ items: [], nextCursor: null }, 200); // a reference to nothing matches nothing
  // Either end matches: filtered here, before paging.
  const page = await pageOf(store, 'tunnel', q, {
    filter: (t) =>
      (!host || t.data.endpoints.some((e) => e.hostId === host.id)) && (!bridge || t.data.endpoints.some((e) => e.bridgeId === bridge.id)),
  });
  return c.json({ items: page.items.map((r) => tunnelKind.render(r)), nextCursor: page.nextCursor }, 200);
});
