import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { JobSchema, renderJob } from '../../model/jobs.js';
import { router } from '../common.js';
import { notFound } from '../../kinds/refs.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { JobIdParam } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs/{id}',
  operationId: 'getJob',
  security: requires('read'),
  tags: ['jobs'],
  summary: 'Get a job',
  description:
    'Status, progress (steps done of total), the hosts it locks, and `error` (a problem) when it failed. Poll it after a 202 (its `Location`), or stream its log.',
  request: { params: JobIdParam },
  responses: statusResponses({
    200: { description: 'The job', content: { 'application/json': { schema: JobSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const id = c.req.valid('param').id;
  const { store, runner } = c.get('deps');
  const job = await store.getJob(id);
  if (!job) throw notFound('job', id);
  return c.json(renderJob(job, runner.waiting(id)), 200);
});
