import { createRoute } from '@hono/zod-openapi';
import { topologyKind } from '../../kinds/topology.js';
import { router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { TopologyNameParam } from '../topologies/schema.js';
import { graphResponse, topologyGraph } from './render.js';
import { graphContent, GraphQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/topologies/{name}/graph',
  operationId: 'getTopologyGraph',
  tags: ['topologies', 'graph'],
  summary: 'A topology as a picture (SVG, Mermaid or DOT), e.g. for a CI report',
  description:
    'What the topology owns, on its hosts: bridges inside host boxes, members on their bridges, tunnels labelled with type, key/VNI and overlay MTU. The same renderers as `netplumb graph` and the page at `/ui`.',
  request: { params: TopologyNameParam, query: GraphQuery },
  responses: statusResponses({
    200: { description: 'The picture, in the media type of its format', content: graphContent },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const t = requireResource(c.get('deps'), topologyKind, c.req.valid('param').name);
  return graphResponse(c, topologyGraph(store, t), c.req.valid('query').format);
});
