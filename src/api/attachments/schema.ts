import { z } from '@hono/zod-openapi';
import { BRIDGE_REF_PATTERN, REF_PATTERN } from '../../model/formats.js';
import { AttachmentSchema } from '../../model/attachments.js';
import { JobSchema } from '../../model/jobs.js';
import { listOf } from '../common.js';
export { ObserveQuery } from '../common.js';

export { AttachmentCreateSchema, AttachmentSchema } from '../../model/attachments.js';
export const AttachmentWithJobSchema = AttachmentSchema.extend({ job: JobSchema }).openapi('AttachmentWithJob');
export const AttachmentListSchema = listOf(AttachmentSchema, 'AttachmentList');
export const AttachmentListQuery = z.object({
  bridge: z
    .string()
    .max(96)
    .optional()
    .openapi({ param: { name: 'bridge', in: 'query' }, pattern: BRIDGE_REF_PATTERN, description: 'bridge id or host/name' }),
  host: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'host', in: 'query' }, pattern: REF_PATTERN, description: 'host id or name' }),
  container: z
    .string()
    .max(128)
    .optional()
    .openapi({
      param: { name: 'container', in: 'query' },
      pattern: REF_PATTERN,
      description: 'container name or id as given when attaching',
    }),
});
