import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { graphResponse, observeGraph, serviceGraph } from './render.js';
import { graphContent, GraphObserveQuery, GraphQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/graph',
  operationId: 'getServiceGraph',
  security: requires('read'),
  tags: ['graph'],
  summary: 'The whole service as a picture (SVG, Mermaid or DOT)',
  description:
    'Every host as a box, its bridges inside, attachments (container, interface, addresses, VLAN) on their bridges, tunnels as edges labelled with type, key/VNI and overlay MTU. `format=svg` is laid out with ELK, as the page at `/ui` draws it.',
  request: { query: GraphQuery.merge(GraphObserveQuery) },
  responses: statusResponses({
    200: { description: 'The picture, in the media type of its format', content: graphContent },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const q = c.req.valid('query');
  const g = await serviceGraph(deps.store);
  return graphResponse(c, q.observe === 'true' ? await observeGraph(deps, g) : g, q.format);
});
