import { createRoute } from '@hono/zod-openapi';
import { renderBridge } from '../../model/bridges.js';
import { findHost, ListQuerySchema, router } from '../common.js';
import { errorResponses } from '../problems.js';
import { BridgeListQuery, BridgeListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/bridges',
  tags: ['bridges'],
  summary: 'List bridges (optionally on one host)',
  request: { query: ListQuerySchema.merge(BridgeListQuery) },
  responses: { 200: { description: 'A page of bridges', content: { 'application/json': { schema: BridgeListSchema } } }, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const hostId = q.host ? (findHost(store, q.host)?.id ?? '-none-') : undefined;
  const page = store.listResources('bridge', { limit: q.limit, cursor: q.cursor, where: { hostId } });
  return c.json({ items: page.items.map(renderBridge), nextCursor: page.nextCursor }, 200);
});
