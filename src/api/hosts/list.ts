import { createRoute } from '@hono/zod-openapi';
import { renderHost } from '../../model/hosts.js';
import { ListQuerySchema, router } from '../common.js';
import { errorResponses } from '../problems.js';
import { HostListQuery, HostListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/hosts',
  tags: ['hosts'],
  summary: 'List hosts',
  request: { query: ListQuerySchema.merge(HostListQuery) },
  responses: { 200: { description: 'A page of hosts', content: { 'application/json': { schema: HostListSchema } } }, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const page = store.listResources('host', { limit: q.limit, cursor: q.cursor });
  let items = page.items.map(renderHost);
  if (q.label) {
    const [k, v] = q.label.split('=');
    items = items.filter((h) => h.labels[k!] !== undefined && (v === undefined || h.labels[k!] === v));
  }
  return c.json({ items, nextCursor: page.nextCursor }, 200);
});
