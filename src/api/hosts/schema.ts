import { z } from '@hono/zod-openapi';
import { HostSchema } from '../../model/hosts.js';
import { JobSchema } from '../../model/jobs.js';
import { listOf } from '../common.js';

export { HostCreateSchema, HostSchema } from '../../model/hosts.js';
export const HostWithJobSchema = HostSchema.extend({ job: JobSchema }).openapi('HostWithJob');
export const HostListSchema = listOf(HostSchema, 'HostList');
export const HostListQuery = z.object({
  label: z
    .string()
    .max(320)
    .optional()
    .openapi({
      param: { name: 'label', in: 'query' },
      pattern: '^[A-Za-z0-9][A-Za-z0-9_./-]*=',
      description: 'key=value: only hosts with this label',
    }),
});
