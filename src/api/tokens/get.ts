import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { TokenSchema } from '../../model/principals.js';
import { notFound } from '../../kinds/refs.js';
import { router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { renderToken, TokenIdParam } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/tokens/{id}',
  operationId: 'getToken',
  security: requires('admin'),
  tags: ['tokens'],
  summary: 'Get an API token (never its secret)',
  description: 'Its name, scopes, restrictions, who made it, and when it expires or was revoked. Tokens are read by admins only.',
  request: { params: TokenIdParam },
  responses: statusResponses({
    200: { description: 'The token', content: { 'application/json': { schema: TokenSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const id = c.req.valid('param').id;
  const t = await c.get('deps').store.getToken(id);
  if (!t) throw notFound('token', id);
  return c.json(renderToken(t), 200);
});
