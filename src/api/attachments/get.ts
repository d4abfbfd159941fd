import { createRoute } from '@hono/zod-openapi';
import { attachmentKind } from '../../kinds/attachment.js';
import { idParam, router } from '../common.js';
import { errorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource, viewOf } from '../resources.js';
import { AttachmentObservedSchema, ObserveQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments/{id}',
  operationId: 'getAttachment',
  tags: ['attachments'],
  summary: 'Get an attachment (observe=true: impairments and cable as the host has them)',
  description:
    '`resolved` says how the job found the target: container id and name, pid, namespace path. With `observe=true`, `observed.drift` lists what differs on the host: the qdiscs and loss rules of each direction (`impairment.toContainer`, `impairment.fromContainer`) and the cable (`link`).',
  request: { params: idParam('attachment'), query: ObserveQuery },
  responses: statusResponses({
    200: { description: 'The attachment', content: { 'application/json': { schema: AttachmentObservedSchema } } },
    ...notFoundResponse,
    ...errorResponses,
    ...observeErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const attachment = requireResource(deps, attachmentKind, c.req.valid('param').id);
  return c.json(await viewOf(deps, attachmentKind, attachment, c.req.valid('query').observe === 'true'), 200);
});
