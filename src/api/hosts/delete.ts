import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { hostKind } from '../../kinds/host.js';
import { acceptedResponse, IdOrNameParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, IfMatchHeader } from '../preconditions.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/hosts/{idOrName}',
  operationId: 'deleteHost',
  security: requires('hosts'),
  tags: ['hosts'],
  summary: 'Forget a host',
  description: 'Refused (409) while bridges on the host are known: delete them first. Nothing on the host is changed.',
  request: { params: IdOrNameParam, headers: PreferHeader.extend(IfMatchHeader.shape) },
  responses: statusResponses({
    204: { description: 'Host forgotten' },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), hostKind, c.req.valid('param').idOrName, {
      cascade: false,
      cascadeOffered: false,
      conditions: conditionsOf(c),
    }),
  ),
);
