import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { renderJob } from '../../model/jobs.js';
import { ProblemError } from '../../model/problems.js';
import { ListQuerySchema, router } from '../common.js';
import { decodeIdCursor, encodeCursor } from '../cursor.js';
import { errorResponses, statusResponses } from '../problems.js';
import { JobListQuery, JobListSchema } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs',
  operationId: 'listJobs',
  security: requires('read'),
  tags: ['jobs'],
  summary: 'List jobs (filter by status, kind, resource)',
  description:
    'Jobs oldest first, `limit` per page (follow `nextCursor`, as `cursor`); `status`, `kind` (e.g. `bridge.create`) `resource` (an id) and `principal` (who asked: a token id, `<issuer>:<sub>`) narrow it down. `after` (a job id) starts after a job you have: poll with it for new jobs.',
  request: { query: ListQuerySchema.merge(JobListQuery) },
  responses: statusResponses({
    200: { description: 'A page of jobs, oldest first', content: { 'application/json': { schema: JobListSchema } } },
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const q = c.req.valid('query');
  const { store, runner } = c.get('deps');
  if (q.cursor !== undefined && q.after !== undefined)
    throw ProblemError.validation([{ pointer: '/after', in: 'query', detail: 'give `cursor` or `after`, not both' }]);
  // Jobs sort by id, so the job a client has last seen is a position too (what the page at /ui polls with).
  const cursor = decodeIdCursor('jobs', q.cursor) ?? q.after;
  const page = await store.listJobs({
    limit: q.limit,
    cursor,
    status: q.status,
    kind: q.kind,
    resourceId: q.resource,
    principal: q.principal,
  });
  const nextCursor = page.nextCursor === null ? null : encodeCursor('jobs', page.nextCursor);
  return c.json({ items: page.items.map((j) => renderJob(j, runner.waiting(j.id))), nextCursor }, 200);
});
