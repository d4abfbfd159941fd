import { z } from '@hono/zod-openapi';
import { BRIDGE_REF_PATTERN, REF_PATTERN } from '../../model/formats.js';
import { TunnelSchema } from '../../model/tunnels.js';
import { JobSchema } from '../../model/jobs.js';
import { listOf } from '../common.js';

export { TunnelCreateSchema, TunnelSchema } from '../../model/tunnels.js';
export const TunnelWithJobSchema = TunnelSchema.extend({ job: JobSchema }).openapi('TunnelWithJob');
export const TunnelListSchema = listOf(TunnelSchema, 'TunnelList');
export const TunnelListQuery = z.object({
  host: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'host', in: 'query' }, pattern: REF_PATTERN, description: 'host id or name: tunnels with either end on it' }),
  bridge: z
    .string()
    .max(96)
    .optional()
    .openapi({
      param: { name: 'bridge', in: 'query' },
      pattern: BRIDGE_REF_PATTERN,
      description: 'bridge id or host/name: tunnels with either end on it',
    }),
});
export { ObserveQuery } from '../common.js';
