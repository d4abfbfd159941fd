import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { TokenCreateSchema, TokenCreatedSchema } from '../../model/principals.js';
import { router } from '../common.js';
import { bodyErrorResponses, errorResponses, statusResponses } from '../problems.js';
import { API_TOKEN_PREFIX, tokenHash } from '../auth.js';
import { audit, currentTraceId } from '../audit/record.js';
import { renderToken } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/tokens',
  operationId: 'createToken',
  security: requires('admin'),
  tags: ['tokens'],
  summary: 'Make an API token (shown once)',
  description:
    'A token with a name, scopes (`read`, `write`, `hosts`, `admin`), optional restrictions (topology names or prefixes, host labels) and an optional expiry. The answer holds the token itself, `np_` and 256 random bits: it is shown this once; the service keeps only its SHA-256.',
  request: { body: { required: true, content: { 'application/json': { schema: TokenCreateSchema } } } },
  responses: statusResponses({
    201: {
      description: 'The token, with its secret (this once)',
      headers: z.object({
        Location: z
          .string()
          .max(80)
          .regex(/^\/tokens\/tok_[a-z2-7]+$/)
          .openapi({ description: 'the token: `/tokens/{id}`' }),
      }),
      content: { 'application/json': { schema: TokenCreatedSchema } },
    },
    ...errorResponses,
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const body = c.req.valid('json');
  const principal = c.get('principal');
  if (body.expiresAt !== undefined && !(Date.parse(body.expiresAt) > Date.now()))
    throw ProblemError.validation([{ pointer: '/expiresAt', detail: 'must be a date-time in the future' }]);
  const secret = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const rec = {
    id: newId('token'),
    name: body.name,
    hash: tokenHash(secret),
    createdAt: new Date().toISOString(),
    expiresAt: body.expiresAt === undefined ? null : new Date(body.expiresAt).toISOString(),
    revokedAt: null,
    data: {
      scopes: [...new Set(body.scopes)],
      ...(body.topologies ? { topologies: body.topologies } : {}),
      ...(body.hostLabels ? { hostLabels: body.hostLabels } : {}),
      prefix: secret.slice(0, 8),
      createdBy: principal?.id ?? 'anonymous',
    },
  };
  await store.tx(async () => {
    await store.insertToken(rec);
    await audit(store, 'token.create', principal?.id ?? 'anonymous', {
      token: rec.id,
      name: rec.name,
      scopes: rec.data.scopes,
      ...(body.topologies ? { topologies: body.topologies } : {}),
      ...(body.hostLabels ? { hostLabels: body.hostLabels } : {}),
      traceId: currentTraceId(),
    });
  });
  return c.json({ ...renderToken(rec), token: secret }, 201, { Location: `/tokens/${rec.id}` });
});
