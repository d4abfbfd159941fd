import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { bridgeKind } from '../../kinds/bridge.js';
import { acceptedResponse, CascadeQuery, idParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, IfMatchHeader } from '../preconditions.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/bridges/{id}',
  operationId: 'deleteBridge',
  security: requires('write'),
  tags: ['bridges'],
  summary: 'Delete a bridge',
  description:
    'Removes the bridge from its host and forgets it. Refused (409) while attachments or tunnels use it, unless `cascade=true`: then they go first, in the same job, under the locks of every host involved.',
  request: { params: idParam('bridge'), query: CascadeQuery, headers: PreferHeader.extend(IfMatchHeader.shape) },
  responses: statusResponses({
    204: { description: 'Bridge gone from the host' },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), bridgeKind, c.req.valid('param').id, {
      cascade: c.req.valid('query').cascade === 'true',
      cascadeOffered: true,
      conditions: conditionsOf(c),
    }),
  ),
);
