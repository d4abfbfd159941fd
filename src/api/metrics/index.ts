/** GET /metrics: the service's Prometheus metrics (src/observability/metrics.ts), behind the token like any route. */
import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';

export const route = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  security: requires('read'),
  tags: ['service'],
  summary: 'Prometheus metrics',
  description:
    'The Prometheus text exposition format (0.0.4): requests by route template, method and status; jobs by kind and outcome; ' +
    'per host (by name) reachability, probe age, SSH connections, channels and shell sessions, batches, commands and batch ' +
    'round-trip time; reconcile passes, drift found and repaired, orphans; store call time and storage faults; idempotency ' +
    'replays and conflicts; lease takeovers and the reconcile leader. Takes the API token, or `NETPLUMB_METRICS_TOKEN` (which ' +
    'opens this route only). See docs/observability.md.',
  responses: statusResponses({
    200: {
      description: 'The metrics',
      content: {
        'text/plain': {
          schema: z.string().openapi({
            example:
              '# HELP netplumb_jobs_total Jobs ended, by kind and outcome\n# TYPE netplumb_jobs_total counter\nnetplumb_jobs_total{kind="bridge.create",outcome="succeeded"} 1\n',
          }),
        },
      },
    },
    ...errorResponses,
  }),
});

export const metrics = router().openapi(route, async (c) => {
  const m = c.get('deps').obs.metrics;
  return c.text(await m.text(), 200, { 'Content-Type': m.contentType });
});
