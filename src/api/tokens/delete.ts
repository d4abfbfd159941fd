import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { notFound } from '../../kinds/refs.js';
import { router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { audit, currentTraceId } from '../audit/record.js';
import { TokenIdParam } from './schema.js';

export const route = createRoute({
  method: 'delete',
  path: '/tokens/{id}',
  operationId: 'deleteToken',
  security: requires('admin'),
  tags: ['tokens'],
  summary: 'Revoke an API token',
  description:
    'From this answer on the token is refused (401), by every replica: each request looks its token up in the store. The record stays (with `revokedAt`) for the audit trail; revoking it again changes nothing.',
  request: { params: TokenIdParam },
  responses: statusResponses({ 204: { description: 'Revoked' }, ...notFoundResponse, ...errorResponses }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const id = c.req.valid('param').id;
  const principal = c.get('principal');
  await store.tx(async () => {
    const before = await store.getToken(id);
    if (!before) throw notFound('token', id);
    if (before.revokedAt) return;
    const t = await store.revokeToken(id, new Date().toISOString());
    await audit(store, 'token.revoke', principal?.id ?? 'anonymous', { token: id, name: t?.name, traceId: currentTraceId() });
  });
  return c.body(null, 204);
});
