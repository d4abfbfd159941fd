import { createRoute } from '@hono/zod-openapi';
import { renderTunnel, type TunnelData } from '../../model/tunnels.js';
import { findBridge, findHost, ListQuerySchema, router } from '../common.js';
import { errorResponses } from '../problems.js';
import { TunnelListQuery, TunnelListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/tunnels',
  tags: ['tunnels'],
  summary: 'List tunnels (optionally those with an end on a host or bridge)',
  request: { query: ListQuerySchema.merge(TunnelListQuery) },
  responses: { 200: { description: 'A page of tunnels', content: { 'application/json': { schema: TunnelListSchema } } }, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  // Either end matches: the store filters on top-level fields only, so filter the (few) tunnels here and page by id.
  const hostId = q.host ? (findHost(store, q.host)?.id ?? '-none-') : undefined;
  const bridgeId = q.bridge ? (findBridge(store, q.bridge)?.id ?? '-none-') : undefined;
  const all = store.listResources('tunnel', { limit: 100_000, cursor: q.cursor }).items.filter((r) => {
    const ends = (r.data as unknown as TunnelData).endpoints;
    return (!hostId || ends.some((e) => e.hostId === hostId)) && (!bridgeId || ends.some((e) => e.bridgeId === bridgeId));
  });
  const items = all.slice(0, q.limit);
  return c.json({ items: items.map(renderTunnel), nextCursor: all.length > q.limit ? items.at(-1)!.id : null }, 200);
});
