import { createRoute } from '@hono/zod-openapi';
import { renderJob } from '../../model/jobs.js';
import { ListQuerySchema, router } from '../common.js';
import { errorResponses, statusResponses } from '../problems.js';
import { JobListQuery, JobListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs',
  operationId: 'listJobs',
  tags: ['jobs'],
  summary: 'List jobs (filter by status, kind, resource)',
  description:
    'Jobs oldest first, `limit` per page (follow `nextCursor`); `status`, `kind` (e.g. `bridge.create`) and `resource` (an id) narrow it down.',
  request: { query: ListQuerySchema.merge(JobListQuery) },
  responses: statusResponses({
    200: { description: 'A page of jobs, oldest first', content: { 'application/json': { schema: JobListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const q = c.req.valid('query');
  const { store, runner } = c.get('deps');
  const page = await store.listJobs({ limit: q.limit, cursor: q.cursor, status: q.status, kind: q.kind, resourceId: q.resource });
  return c.json({ items: page.items.map((j) => renderJob(j, runner.waiting(j.id))), nextCursor: page.nextCursor }, 200);
});
