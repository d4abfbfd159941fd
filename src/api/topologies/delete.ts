import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { topologyKind } from '../../kinds/topology.js';
import { acceptedResponse, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, IfMatchHeader } from '../preconditions.js';
import { deleteMutation } from '../resources.js';
import { TopologyNameParam } from './schema.js';

export const route = createRoute({
  method: 'delete',
  path: '/topologies/{name}',
  operationId: 'deleteTopology',
  security: requires('write'),
  tags: ['topologies'],
  summary: 'Delete a topology: everything it made, on every host, in one job',
  description:
    'Removes every attachment, tunnel and bridge the topology owns, on every host involved, in one job, then forgets the topology and what it allocated.',
  request: { params: TopologyNameParam, headers: PreferHeader.extend(IfMatchHeader.shape) },
  responses: statusResponses({
    204: { description: 'Everything it owned is gone from the hosts' },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), topologyKind, c.req.valid('param').name, {
      cascade: false,
      cascadeOffered: false,
      conditions: conditionsOf(c),
    }),
  ),
);
