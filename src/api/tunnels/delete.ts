import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, IfMatchHeader } from '../preconditions.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/tunnels/{id}',
  operationId: 'deleteTunnel',
  security: requires('write'),
  tags: ['tunnels'],
  summary: 'Delete a tunnel',
  description:
    "Removes both ends, on both hosts, in one job that holds both hosts' locks; the bridges' `overlayMtu` is recomputed from the tunnels left. A tunnel a topology owns is refused (409): change the topology instead.",
  request: { params: idParam('tunnel'), headers: PreferHeader.extend(IfMatchHeader.shape) },
  responses: statusResponses({
    204: { description: 'Both ends gone from the hosts' },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), tunnelKind, c.req.valid('param').id, {
      cascade: false,
      cascadeOffered: false,
      conditions: conditionsOf(c),
    }),
  ),
);
