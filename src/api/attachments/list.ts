import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { findBridge, findHost } from '../../kinds/refs.js';
import { ListQuerySchema, pageOf, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { AttachmentListQuery, AttachmentListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments',
  operationId: 'listAttachments',
  security: requires('read'),
  tags: ['attachments'],
  summary: 'List attachments (filter by bridge, host, container)',
  description:
    'Attachments in creation order, `limit` per page (follow `nextCursor`); `bridge`, `host` and `container` (as given when attaching) narrow it down.',
  request: { query: ListQuerySchema.merge(AttachmentListQuery) },
  responses: statusResponses({
    200: { description: 'A page of attachments', content: { 'application/json': { schema: AttachmentListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const bridge = q.bridge ? await findBridge(store, q.bridge) : undefined;
  const host = q.host ? await findHost(store, q.host) : undefined;
  if (bridge === null || host === null) return c.json({ items: [], nextCursor: null }, 200); // a reference to nothing matches nothing
  const page = await pageOf(store, 'attachment', q, { where: { bridgeId: bridge?.id, hostId: host?.id, container: q.container } });
  return c.json({ items: page.items.map((r) => attachmentKind.render(r)), nextCursor: page.nextCursor }, 200);
});
