/** GET /healthz (liveness: always answers, says how the store is) and GET /readyz (503 while the store cannot write). */
import { createRoute, z } from '@hono/zod-openapi';
import { ProblemError } from '../model/problems.js';
import { StoreHealthSchema } from '../model/health.js';
import { router } from './common.js';
import { errorResponses, statusResponses } from './problems.js';
import { ProblemSchema } from '../model/jobs.js';
import { VERSION } from '../version.js';

const HealthSchema = z
  .object({
    status: z
      .enum(['ok', 'degraded'])
      .openapi({ description: '`degraded` while the store cannot write (the service still answers reads)' }),
    version: z
      .string()
      .max(64)
      .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/)
      .openapi({ description: 'the service version (the SDK says which it speaks to)', example: VERSION }),
    store: StoreHealthSchema,
  })
  .openapi('Health');

const ReadySchema = z.object({ status: z.enum(['ready']), store: StoreHealthSchema }).openapi('Ready');

const open = { security: [] as Record<string, string[]>[], tags: ['service'] };

const shuttingDown = {
  description: '`shutting-down`: the process got SIGTERM and drains (takes no new work); `Retry-After` in seconds',
  headers: z.object({ 'Retry-After': z.number().int().min(0).max(86_400).openapi({ description: 'seconds', example: 1 }) }),
  content: { 'application/problem+json': { schema: ProblemSchema } },
};

function refuseWhileDraining(draining: boolean): void {
  if (draining)
    throw new ProblemError('shutting-down', 'this replica is shutting down: it finishes its running jobs and takes no new work');
}

export const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  ...open,
  summary: 'Liveness: the service answers (no token needed)',
  description:
    '200 while the process serves; `status` is `degraded` while the store cannot write. 503 `shutting-down` from the first SIGTERM until the process exits (it finishes its running jobs, takes no new ones). Answers any `Host`.',
  responses: statusResponses({
    200: { description: 'Alive', content: { 'application/json': { schema: HealthSchema } } },
    406: errorResponses[406],
    500: errorResponses[500],
    503: shuttingDown,
  }),
});

export const readyRoute = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  ...open,
  summary: 'Readiness: the store takes writes (no token needed)',
  description:
    'A write probe is sent to the store (or what is kept in memory written) first, bounded at 1.5 s. 503 `storage-unavailable` with `Retry-After` while it fails, `shutting-down` while the process drains.',
  responses: statusResponses({
    200: { description: 'Ready', content: { 'application/json': { schema: ReadySchema } } },
    406: errorResponses[406],
    500: errorResponses[500],
    503: {
      description:
        '`storage-unavailable`: the store cannot write (`store` says how, `Retry-After` when to ask again); or `shutting-down`: the process drains',
      headers: z.object({
        'Retry-After': z.number().int().min(0).max(86_400).openapi({ description: 'seconds', example: 5 }),
      }),
      content: { 'application/problem+json': { schema: ProblemSchema } },
    },
  }),
});

export const health = router()
  .openapi(healthRoute, (c) => {
    refuseWhileDraining(c.get('deps').lifecycle.draining);
    const store = c.get('deps').storage.health();
    return c.json(
      {
        status: store.writable ? ('ok' as const) : ('degraded' as const),
        version: VERSION,
        store: { status: store.writable ? ('ok' as const) : ('failing' as const), ...store },
      },
      200,
    );
  })
  .openapi(readyRoute, async (c) => {
    refuseWhileDraining(c.get('deps').lifecycle.draining);
    const store = await c.get('deps').storage.check();
    if (store.writable) return c.json({ status: 'ready' as const, store: { status: 'ok' as const, ...store } }, 200);
    // Answered by app.onError as a problem, with Retry-After.
    throw new ProblemError(
      'storage-unavailable',
      `the store cannot write${store.error ? ` (${store.error})` : ''}; ${store.pendingWrites} write(s) kept in memory`,
      { store: { status: 'failing', ...store }, retryAfter: store.retryAfterS },
    );
  });
