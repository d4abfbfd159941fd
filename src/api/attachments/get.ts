import { createRoute } from '@hono/zod-openapi';
import { AttachmentSchema, renderAttachment } from '../../model/attachments.js';
import { IdParam, router } from '../common.js';
import { notFound } from '../mutation.js';
import { errorResponses, notFoundResponse } from '../problems.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments/{id}',
  tags: ['attachments'],
  summary: 'Get an attachment',
  request: { params: IdParam },
  responses: { 200: { description: 'The attachment', content: { 'application/json': { schema: AttachmentSchema } } }, ...notFoundResponse, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const id = c.req.valid('param').id;
  const r = c.get('deps').store.getResource(id);
  if (!r || r.type !== 'attachment') throw notFound('attachment', id);
  return c.json(renderAttachment(r), 200);
});
