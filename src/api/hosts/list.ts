import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { hostKind } from '../../kinds/host.js';
import { ListQuerySchema, pageOf, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { HostListQuery, HostListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/hosts',
  operationId: 'listHosts',
  security: requires('read'),
  tags: ['hosts'],
  summary: 'List hosts',
  description:
    'Hosts in the order they were registered, `limit` per page (follow `nextCursor`); `label=key=value` (or `label=key`) keeps those carrying that label.',
  request: { query: ListQuerySchema.merge(HostListQuery) },
  responses: statusResponses({
    200: { description: 'A page of hosts', content: { 'application/json': { schema: HostListSchema } } },
    ...errorResponses,
  }),
});

/** `key=value` (or `key`): hosts carrying that label. */
function labelFilter(label: string | undefined) {
  if (label === undefined) return undefined;
  const eq = label.indexOf('=');
  const key = eq < 0 ? label : label.slice(0, eq);
  const value = eq < 0 ? undefined : label.slice(eq + 1);
  return (host: { data: { labels: Record<string, string> } }) =>
    host.data.labels[key] !== undefined && (value === undefined || host.data.labels[key] === value);
}

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const filter = labelFilter(q.label);
  const page = await pageOf(store, 'host', q, filter ? { filter } : {});
  return c.json({ items: page.items.map((r) => hostKind.render(r)), nextCursor: page.nextCursor }, 200);
});
