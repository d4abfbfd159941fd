import { createRoute } from '@hono/zod-openapi';
import { attachmentKind } from '../../kinds/attachment.js';
import { IdParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/attachments/{id}',
  tags: ['attachments'],
  summary: 'Detach: remove the OVS port and both veth ends',
  request: { params: IdParam, headers: PreferHeader },
  responses: statusResponses({ 204: { description: 'Detached' }, ...acceptedResponse, ...mutationErrorResponses }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () => deleteMutation(c.get('deps'), attachmentKind, c.req.valid('param').id, { cascade: false, cascadeOffered: false })),
);
