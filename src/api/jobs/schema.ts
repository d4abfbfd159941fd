import { z } from '@hono/zod-openapi';
import { JobSchema, JobStatusSchema, LogLineSchema } from '../../model/jobs.js';
import { EXAMPLE_IDS, idPattern } from '../../model/names.js';
import { CursorParam, listOf, NextCursor } from '../common.js';

export const JobListSchema = listOf(JobSchema, 'JobList');
/**
 * A page of a job's log. Its nextCursor is opaque like every list's (api/cursor.ts), for `cursor`; `after` still takes a
 * line's `seq` (what an SSE event's id is) for resuming from a line one has. docs/http.md says why both.
 */
export const JobLogPageSchema = z
  .object({
    items: z.array(LogLineSchema).max(1000),
    nextCursor: NextCursor,
  })
  .openapi('JobLogPage');
export const JobListQuery = z.object({
  principal: z
    .string()
    .max(300)
    .optional()
    .openapi({
      param: { name: 'principal', in: 'query' },
      pattern: '^[\\x21-\\x7e]+$',
      description: "a principal's id: a token's (`tok_…`), `<issuer>:<sub>` for a CI identity, `bootstrap`",
      example: EXAMPLE_IDS.token,
    }),
  status: JobStatusSchema.optional().openapi({ param: { name: 'status', in: 'query' } }),
  kind: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'kind', in: 'query' }, pattern: '^[a-z]+(?:\\.[a-z-]+)+$', example: 'bridge.create' }),
  resource: z
    .string()
    .max(128)
    .optional()
    .openapi({ param: { name: 'resource', in: 'query' }, pattern: '^[a-z]+_[a-z2-7]+$', description: 'a resource id' }),
  after: z
    .string()
    .max(40)
    .regex(idPattern('job'))
    .optional()
    .openapi({
      param: { name: 'after', in: 'query' },
      example: EXAMPLE_IDS.job,
      description: 'only jobs created after this one (the last one you have): how to poll for new jobs; instead of `cursor`, not with it',
    }),
});
export const JobLogQuery = z.object({
  cursor: CursorParam,
  after: z.coerce
    .number()
    .int()
    .min(0)
    .max(2_147_483_647)
    .optional()
    .openapi({
      param: { name: 'after', in: 'query' },
      type: 'integer',
      minimum: 0,
      maximum: 2_147_483_647,
      description: "lines with `seq` > after (a line's `seq`, or an SSE event id); instead of `cursor`, not with it",
      example: 0,
    }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(200)
    .openapi({ param: { name: 'limit', in: 'query' } }),
});
export const JobIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, pattern: '^job_[a-z2-7]+$', example: EXAMPLE_IDS.job }),
});
