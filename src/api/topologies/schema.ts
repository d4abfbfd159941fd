import { z } from '@hono/zod-openapi';
import { JobSchema } from '../../model/jobs.js';
import { TopologyDocumentSchema, TopologyName, TopologyPlanSchema, TopologySchema } from '../../model/topologies.js';
import { listOf } from '../common.js';

export const TopologyWithJobSchema = TopologySchema.extend({ job: JobSchema, plan: TopologyPlanSchema }).openapi('TopologyWithJob');
export const TopologyListSchema = listOf(TopologySchema, 'TopologyList');
export const TopologyNameParam = z.object({
  name: TopologyName.openapi({ param: { name: 'name', in: 'path' }, example: 'seed' }),
});
export const DryRunQuery = z.object({
  dryRun: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({
      param: { name: 'dryRun', in: 'query' },
      description: 'answer the plan only (what would change, where, with which commands); nothing runs',
    }),
});
/** The document as JSON or YAML (application/yaml, text/yaml). */
export const documentBody = {
  // Not `required` for the validator's sake: JSON is validated by it, YAML by the handler (required would send YAML to the JSON validator).
  required: false,
  content: {
    'application/json': { schema: TopologyDocumentSchema },
    'application/yaml': { schema: TopologyDocumentSchema },
  },
} as const;
