import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { ListQuerySchema, router } from '../common.js';
import { decodeIdCursor, encodeCursor } from '../cursor.js';
import { errorResponses, statusResponses } from '../problems.js';
import { renderToken, TokenListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/tokens',
  operationId: 'listTokens',
  security: requires('admin'),
  tags: ['tokens'],
  summary: 'List API tokens (never their secrets)',
  description: 'Every token, oldest first, revoked and expired ones too (with `revokedAt`, `expiresAt`).',
  request: { query: ListQuerySchema },
  responses: statusResponses({
    200: { description: 'A page of tokens', content: { 'application/json': { schema: TokenListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const q = c.req.valid('query');
  const page = await c.get('deps').store.listTokens({ limit: q.limit, cursor: decodeIdCursor('tokens', q.cursor) });
  return c.json(
    { items: page.items.map(renderToken), nextCursor: page.nextCursor === null ? null : encodeCursor('tokens', page.nextCursor) },
    200,
  );
});
