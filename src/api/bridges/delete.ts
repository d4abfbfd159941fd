import { createRoute } from '@hono/zod-openapi';
import { bridgeKind } from '../../kinds/bridge.js';
import { acceptedResponse, CascadeQuery, IdParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/bridges/{id}',
  tags: ['bridges'],
  summary: 'Delete a bridge (409 while attachments or tunnels use it, unless cascade=true)',
  request: { params: IdParam, query: CascadeQuery, headers: PreferHeader },
  responses: statusResponses({ 204: { description: 'Bridge gone from the host' }, ...acceptedResponse, ...mutationErrorResponses }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), bridgeKind, c.req.valid('param').id, {
      cascade: c.req.valid('query').cascade === 'true',
      cascadeOffered: true,
    }),
  ),
);
