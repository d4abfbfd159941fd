import { z } from '@hono/zod-openapi';
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
    .openapi({ param: { name: 'host', in: 'query' }, description: 'host id or name: tunnels with either end on it' }),
  bridge: z
    .string()
    .max(96)
    .optional()
    .openapi({ param: { name: 'bridge', in: 'query' }, description: 'bridge id or host/name: tunnels with either end on it' }),
});
export { ObserveQuery } from '../common.js';
