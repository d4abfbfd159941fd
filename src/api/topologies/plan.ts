import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { dryRunPlan, prepareApply } from '../../kinds/topology.js';
import { readByKeyOrId } from '../../kinds/topology-refs.js';
import { TopologyPlanSchema } from '../../model/topologies.js';
import { router } from '../common.js';
import { bodyErrorResponses, errorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { readDocument } from './body.js';
import { documentBody, TopologyNameParam } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/topologies/{name}/plan',
  operationId: 'planTopology',
  security: requires('read'),
  tags: ['topologies'],
  summary: 'Plan a topology document without applying it',
  description:
    'The same as `PUT /topologies/{name}?dryRun=true`: what would be created, changed and removed, per host, with the commands and how disruptive each change is. Nothing runs.',
  request: { params: TopologyNameParam, body: documentBody },
  responses: statusResponses({
    200: { description: 'The plan', content: { 'application/json': { schema: TopologyPlanSchema } } },
    ...errorResponses,
    // A POST: the origin guard answers it as it does a change (403), though nothing changes.
    403: mutationErrorResponses[403],
    404: mutationErrorResponses[404],
    409: mutationErrorResponses[409],
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const { store } = c.get('deps');
  const name = c.req.valid('param').name;
  const doc = await readDocument(c, c.req.valid('json'));
  return c.json(
    await store.tx(async () => dryRunPlan(store, name, await prepareApply(store, name, doc, await readByKeyOrId(store, name)))),
    200,
  );
});
