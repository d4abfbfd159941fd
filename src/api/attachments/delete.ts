import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, IfMatchHeader } from '../preconditions.js';
import { deleteMutation } from '../resources.js';

export const route = createRoute({
  method: 'delete',
  path: '/attachments/{id}',
  operationId: 'deleteAttachment',
  security: requires('write'),
  tags: ['attachments'],
  summary: 'Detach: remove the OVS port and both veth ends',
  description:
    "One job on the bridge's host: the port leaves the bridge and the veth pair goes (both ends). An attachment a topology owns is refused (409): change the topology instead.",
  request: { params: idParam('attachment'), headers: PreferHeader.extend(IfMatchHeader.shape) },
  responses: statusResponses({
    204: { description: 'Detached' },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) =>
  mutate(c, route, () =>
    deleteMutation(c.get('deps'), attachmentKind, c.req.valid('param').id, {
      cascade: false,
      cascadeOffered: false,
      conditions: conditionsOf(c),
    }),
  ),
);
