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
/** The YAML media types a topology document is taken in (the route's validator answers 415 to any other). */
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] as const;

/** The document as JSON or YAML. */
export const documentBody = {
  // Not `required` for the validator's sake: JSON is validated by it, YAML by the handler (required would send YAML to the JSON validator).
  required: false,
  description: 'The topology document, as JSON or as YAML (any of the YAML media types)',
  content: {
    'application/json': { schema: TopologyDocumentSchema },
    'application/yaml': { schema: TopologyDocumentSchema },
    'application/x-yaml': { schema: TopologyDocumentSchema },
    'text/yaml': { schema: TopologyDocumentSchema },
    'text/x-yaml': { schema: TopologyDocumentSchema },
  },
} as const;
