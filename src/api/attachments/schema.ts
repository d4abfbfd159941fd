import { z } from '@hono/zod-openapi';
import { AttachmentSchema } from '../../model/attachments.js';
import { JobSchema } from '../../model/jobs.js';
import { DriftSchema } from '../../model/resource.js';
import { AttachmentImpairmentSchema, LinkStateSchema } from '../../model/impairments.js';
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
    .openapi({ param: { name: 'bridge', in: 'query' }, description: 'bridge id or host/name' }),
  host: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'host', in: 'query' }, description: 'host id or name' }),
  container: z
    .string()
    .max(128)
    .optional()
    .openapi({ param: { name: 'container', in: 'query' }, description: 'container name or id as given when attaching' }),
});
export const AttachmentObservedSchema = AttachmentSchema.extend({
  observed: z
    .object({
      observedAt: z.string(),
      impairment: AttachmentImpairmentSchema.required().openapi({ description: 'what the qdiscs and loss rules on the host do now' }),
      link: LinkStateSchema.nullable().openapi({ description: 'the bridge end up or down (null: it is missing)' }),
      drift: DriftSchema.openapi({
        description:
          'impairment.toContainer, impairment.fromContainer (as the qdiscs and loss rules say) and link (the bridge end up or down)',
      }),
    })
    .optional(),
}).openapi('AttachmentObserved');
