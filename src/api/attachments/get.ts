import { createRoute } from '@hono/zod-openapi';
import { attachmentKind } from '../../kinds/attachment.js';
import { AttachmentSchema } from '../../model/attachments.js';
import { idParam, router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments/{id}',
  operationId: 'getAttachment',
  tags: ['attachments'],
  summary: 'Get an attachment',
  description: '`resolved` says how the job found the target: container id and name, pid, namespace path.',
  request: { params: idParam('attachment') },
  responses: statusResponses({
    200: { description: 'The attachment', content: { 'application/json': { schema: AttachmentSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  return c.json(attachmentKind.render(requireResource(deps, attachmentKind, c.req.valid('param').id)), 200);
});
