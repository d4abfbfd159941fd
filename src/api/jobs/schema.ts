import { z } from '@hono/zod-openapi';
import { JobSchema, JobStatusSchema, LogLineSchema } from '../../model/jobs.js';
import { EXAMPLE_IDS } from '../../model/names.js';
import { listOf } from '../common.js';

export const JobListSchema = listOf(JobSchema, 'JobList');
/**
 * nextCursor is the last line's seq: an integer, the type of the `after` it is passed back as. It used to be the seq
 * as a string; a query string spells both alike, so clients that echo it into `after=` work unchanged.
 */
export const JobLogPageSchema = z
  .object({
    items: z.array(LogLineSchema),
    nextCursor: z.number().int().min(1).nullable().openapi({
      description: "the last line's `seq`: pass it as `after` for the next page; null when this page is the last",
      example: 200,
    }),
  })
  .openapi('JobLogPage');
export const JobListQuery = z.object({
  status: JobStatusSchema.optional().openapi({ param: { name: 'status', in: 'query' } }),
  kind: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'kind', in: 'query' }, example: 'bridge.create' }),
  resource: z
    .string()
    .max(128)
    .optional()
    .openapi({ param: { name: 'resource', in: 'query' }, description: 'a resource id' }),
});
export const JobLogQuery = z.object({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .openapi({ param: { name: 'after', in: 'query' }, description: "return lines with seq > after (a page's `nextCursor`)", example: 0 }),
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
    .openapi({ param: { name: 'id', in: 'path' }, example: EXAMPLE_IDS.job }),
});
