import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { topologyKind } from '../../kinds/topology.js';
import { router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { TopologyNameParam } from '../topologies/schema.js';
import { graphResponse, observeGraph, topologyGraph } from './render.js';
import { graphContent, GraphObserveQuery, GraphQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/topologies/{name}/graph',
  operationId: 'getTopologyGraph',
  security: requires('read'),
  tags: ['topologies', 'graph'],
  summary: 'A topology as a picture (SVG, Mermaid or DOT), e.g. for a CI report',
  description:
    'What the topology owns, on its hosts: bridges inside host boxes, members on their bridges, tunnels labelled with type, key/VNI and overlay MTU. The same renderers as `netplumb graph` and the page at `/ui`.',
  request: { params: TopologyNameParam, query: GraphQuery.merge(GraphObserveQuery) },
  responses: statusResponses({
    200: { description: 'The picture, in the media type of its format', content: graphContent },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const q = c.req.valid('query');
  const g = await topologyGraph(deps.store, await requireResource(deps, topologyKind, c.req.valid('param').name));
  return graphResponse(c, q.observe === 'true' ? await observeGraph(deps, g) : g, q.format);
});
