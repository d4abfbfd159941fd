import { EtagHeaders, etagOf } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { hostTarget } from '../../jobs/host-target.js';
import { hostReader } from '../../kinds/kind.js';
import { renderTopology, topologyKind } from '../../kinds/topology.js';
import { TopologySchema } from '../../model/topologies.js';
import { ObserveQuery, router } from '../common.js';
import { errorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { TopologyNameParam } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/topologies/{name}',
  operationId: 'getTopology',
  security: requires('read'),
  tags: ['topologies'],
  summary: 'Get a topology: its document, what was allocated, what it owns (observe=true: drift on the hosts)',
  description:
    'The document as last applied, the values the service allocated for it (addresses, keys, names, MACs: kept across re-applies) and the resources it owns by slot. With `observe=true`: the drift of every owned resource, read from the hosts.',
  request: { params: TopologyNameParam, query: ObserveQuery },
  responses: statusResponses({
    200: { description: 'The topology', headers: EtagHeaders, content: { 'application/json': { schema: TopologySchema } } },
    ...notFoundResponse,
    ...errorResponses,
    ...observeErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const t = await requireResource(deps, topologyKind, c.req.valid('param').name);
  c.header('ETag', etagOf(t));
  const view = await renderTopology(deps.store, t);
  if (c.req.valid('query').observe !== 'true') return c.json(view, 200);
  const observed = await topologyKind.observeWith(
    hostReader(deps.hosts, (id) => hostTarget(deps.store, id)),
    deps.store,
    t,
  );
  return c.json({ ...view, observed: { observedAt: observed.observedAt, drift: observed.drift } }, 200);
});
