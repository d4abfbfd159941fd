import { createRoute } from '@hono/zod-openapi';
import { JobSchema, renderJob } from '../../model/jobs.js';
import { router } from '../common.js';
import { notFound } from '../../kinds/refs.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { JobIdParam } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs/{id}',
  tags: ['jobs'],
  summary: 'Get a job',
  request: { params: JobIdParam },
  responses: statusResponses({
    200: { description: 'The job', content: { 'application/json': { schema: JobSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const id = c.req.valid('param').id;
  const job = c.get('deps').store.getJob(id);
  if (!job) throw notFound('job', id);
  return c.json(renderJob(job), 200);
});
