import { createRoute } from '@hono/zod-openapi';
import { tunnelKind } from '../../kinds/tunnel.js';
import { IdParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/tunnels/{id}',
  tags: ['tunnels'],
  summary: "Delete a tunnel: both ends, in one job; the bridges' overlayMtu is recomputed",
  request: { params: IdParam, headers: PreferHeader },
  responses: statusResponses({ 204: { description: 'Both ends gone from the hosts' }, ...acceptedResponse, ...mutationErrorResponses }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () => deleteMutation(c.get('deps'), tunnelKind, c.req.valid('param').id, { cascade: false, cascadeOffered: false })),
);
