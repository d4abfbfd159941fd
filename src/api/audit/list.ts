import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { AuditEntrySchema } from '../../model/principals.js';
import { router, NextCursor, CursorParam } from '../common.js';
import { decodeSeqCursor, encodeCursor } from '../cursor.js';
import { errorResponses, statusResponses } from '../problems.js';

const AuditPageSchema = z.object({ items: z.array(AuditEntrySchema).max(500), nextCursor: NextCursor }).openapi('AuditPage');

export const route = createRoute({
  method: 'get',
  path: '/audit',
  operationId: 'listAudit',
  security: requires('admin'),
  tags: ['audit'],
  summary: 'Read the audit log',
  description:
    'Append-only, oldest first: tokens made and revoked, host changes (register, probe, repair, remove, orphans) and refused requests (403), each with its principal and trace id. `principal` and `action` narrow it down.',
  request: {
    query: z.object({
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(500)
        .default(100)
        .openapi({ param: { name: 'limit', in: 'query' }, example: 100 }),
      cursor: CursorParam,
      principal: z
        .string()
        .max(300)
        .optional()
        .openapi({ param: { name: 'principal', in: 'query' }, pattern: '^[\\x21-\\x7e]+$', example: 'tok_23ocopjlat4xk7qnv2hd5rmb3e' }),
      action: z
        .string()
        .max(64)
        .optional()
        .openapi({ param: { name: 'action', in: 'query' }, pattern: '^[a-z]+(?:\\.[a-z-]+)+$', example: 'request.refused' }),
    }),
  },
  responses: statusResponses({
    200: { description: 'A page of audit entries', content: { 'application/json': { schema: AuditPageSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const q = c.req.valid('query');
  const items = await c
    .get('deps')
    .store.listAudit({ limit: q.limit + 1, after: decodeSeqCursor('audit', q.cursor), principal: q.principal, action: q.action });
  const more = items.length > q.limit;
  const page = more ? items.slice(0, q.limit) : items;
  return c.json(
    {
      items: page.map((e) => ({ seq: e.seq, ts: e.ts, action: e.action, principal: e.principal, detail: e.data })),
      nextCursor: more ? encodeCursor('audit', page[page.length - 1]!.seq) : null,
    },
    200,
  );
});
