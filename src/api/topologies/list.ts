import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { renderTopology } from '../../kinds/topology.js';
import { ListQuerySchema, pageOf, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { TopologyListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/topologies',
  operationId: 'listTopologies',
  security: requires('read'),
  tags: ['topologies'],
  summary: 'List topologies',
  description:
    'Topologies in creation order, `limit` per page (follow `nextCursor`), each with its document, allocations and owned resources.',
  request: { query: ListQuerySchema },
  responses: statusResponses({
    200: { description: 'A page of topologies', content: { 'application/json': { schema: TopologyListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const page = await pageOf(store, 'topology', c.req.valid('query'));
  return c.json({ items: await Promise.all(page.items.map((t) => renderTopology(store, t))), nextCursor: page.nextCursor }, 200);
});
