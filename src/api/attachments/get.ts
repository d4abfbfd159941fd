import { EtagHeaders, etagOf } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { AttachmentSchema } from '../../model/attachments.js';
import { idParam, ObserveQuery, router } from '../common.js';
import { errorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource, viewOf } from '../resources.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments/{id}',
  operationId: 'getAttachment',
  security: requires('read'),
  tags: ['attachments'],
  summary: 'Get an attachment',
  description:
    '`resolved` says how the job found the target: container id and name, pid, namespace path. With `observe=true` the answer adds `observed`: ' +
    'the target as it is now (a container is looked up again), the host end (present, marked, on its bridge, VLAN, carrier) and the inner end ' +
    "(present in the target's namespace and paired with the host end, addresses, MAC, MTU, routes), the impairments of each direction " +
    'and the cable (`link`) as the qdiscs and rules on the host have them, and their `drift` from the record.',
  request: { params: idParam('attachment'), query: ObserveQuery },
  responses: statusResponses({
    200: {
      description: 'The attachment (with `observed` when observe=true)',
      headers: EtagHeaders,
      content: { 'application/json': { schema: AttachmentSchema } },
    },
    ...notFoundResponse,
    ...errorResponses,
    ...observeErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const r = await requireResource(deps, attachmentKind, c.req.valid('param').id);
  c.header('ETag', etagOf(r));
  return c.json(await viewOf(deps, attachmentKind, r, c.req.valid('query').observe === 'true'), 200);
});
