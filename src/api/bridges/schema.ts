import { z } from '@hono/zod-openapi';
import { REF_PATTERN } from '../../model/formats.js';
import { BridgeSchema } from '../../model/bridges.js';
import { JobSchema } from '../../model/jobs.js';
import { listOf } from '../common.js';

export { BridgeCreateSchema, BridgePatchSchema, BridgeSchema } from '../../model/bridges.js';
export const BridgeWithJobSchema = BridgeSchema.extend({ job: JobSchema }).openapi('BridgeWithJob');
export const BridgeListSchema = listOf(BridgeSchema, 'BridgeList');
export const BridgeListQuery = z.object({
  host: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'host', in: 'query' }, pattern: REF_PATTERN, description: 'host id or name' }),
});
export const NaturalKeyParams = z.object({
  host: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'host', in: 'path' }, pattern: REF_PATTERN, example: 'docker1' }),
  name: z
    .string()
    .min(1)
    .max(15)
    .openapi({ param: { name: 'name', in: 'path' }, pattern: REF_PATTERN, example: 'ovs_bridge' }),
});
