import { createRoute } from '@hono/zod-openapi';
import { renderAttachment } from '../../model/attachments.js';
import { findBridge, findHost, ListQuerySchema, router } from '../common.js';
import { errorResponses } from '../problems.js';
import { AttachmentListQuery, AttachmentListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/attachments',
  tags: ['attachments'],
  summary: 'List attachments (filter by bridge, host, container)',
  request: { query: ListQuerySchema.merge(AttachmentListQuery) },
  responses: { 200: { description: 'A page of attachments', content: { 'application/json': { schema: AttachmentListSchema } } }, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const { store } = c.get('deps');
  const q = c.req.valid('query');
  const none = '-none-';
  const where = {
    bridgeId: q.bridge ? (findBridge(store, q.bridge)?.id ?? none) : undefined,
    hostId: q.host ? (findHost(store, q.host)?.id ?? none) : undefined,
    container: q.container,
  };
  const page = store.listResources('attachment', { limit: q.limit, cursor: q.cursor, where });
  return c.json({ items: page.items.map(renderAttachment), nextCursor: page.nextCursor }, 200);
});
