import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { bridgeKind } from '../../kinds/bridge.js';
import { findHost } from '../../kinds/refs.js';
import { ListQuerySchema, pageOf, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { BridgeListQuery, BridgeListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/bridges',
  operationId: 'listBridges',
  security: requires('read'),
  tags: ['bridges'],
  summary: 'List bridges (optionally on one host)',
  description: 'Bridges in creation order, `limit` per page (follow `nextCursor`); `host` (id or name) keeps the bridges on that host.',
  request: { query: ListQuerySchema.merge(BridgeListQuery) },
  responses: statusResponses({
    200: { description: 'A page of bridges', content: { 'application/json': { schema: BridgeListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const host = q.host ? await findHost(store, q.host) : undefined;
  if (host === null) return c.json({ items: [], nextCursor: null }, 200); // no such host: nothing on it
  const page = await pageOf(store, 'bridge', q, { where: { hostId: host?.id } });
  return c.json({ items: page.items.map((r) => bridgeKind.render(r)), nextCursor: page.nextCursor }, 200);
});
