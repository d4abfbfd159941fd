import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { insertPending, readResource, saveResource } from '../../jobs/records.js';
import { requireSettled } from '../../kinds/refs.js';
import { applyTopology, dryRunPlan, prepareApply, renderTopology } from '../../kinds/topology.js';
import { readByKeyOrId } from '../../kinds/topology-refs.js';
import { topologyData } from '../../kinds/topology-resolve.js';
import { newId } from '../../model/names.js';
import { TopologyPlanSchema } from '../../model/topologies.js';
import { acceptedResponse, createdHeaders, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { ConditionalPutHeaders, conditionsOf, EtagHeaders, etagOf, requirePreconditions } from '../preconditions.js';
import { readDocument } from './body.js';
import { documentBody, DryRunQuery, TopologyNameParam, TopologyWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'put',
  path: '/topologies/{name}',
  operationId: 'applyTopology',
  security: requires('write'),
  tags: ['topologies'],
  summary: 'Create or converge a topology (a whole container network) from its document',
  description:
    'Diffs the document against what the service owns under this name and applies the difference as one job across every host ' +
    'involved: unchanged parts are not touched; bridges and members change in place where they can; tunnels and re-wired members are ' +
    'replaced. Addresses, keys, names and MACs are allocated once and kept. Every error in the document is reported at once, with a ' +
    'pointer, before any job exists. With `dryRun=true` the answer is the plan only (per change: hosts, commands, disruption, affected ' +
    'members) and nothing runs. JSON or YAML (`Content-Type: application/yaml`). `If-Match` applies the document only to the version ' +
    'of the topology it was planned against (the `ETag` of a GET or of the dry run), `If-None-Match: *` only if no topology has the name: ' +
    'otherwise 412 and no job (a dry run checks them too).',
  request: {
    params: TopologyNameParam,
    query: DryRunQuery,
    headers: PreferHeader.extend(ConditionalPutHeaders.shape),
    body: documentBody,
  },
  responses: statusResponses({
    200: {
      description:
        'Converged (the topology with its job and the plan it ran), or with dryRun=true the plan only (`ETag`: the topology it was planned against, when there is one)',
      headers: EtagHeaders.partial(),
      content: { 'application/json': { schema: z.union([TopologyWithJobSchema, TopologyPlanSchema]) } },
    },
    201: {
      description: 'Created',
      headers: createdHeaders('topologies', 'topology'),
      content: { 'application/json': { schema: TopologyWithJobSchema } },
    },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const name = c.req.valid('param').name;
  const doc = await readDocument(c, c.req.valid('json'));
  const conditions = conditionsOf(c);
  if (c.req.valid('query').dryRun === 'true') {
    const { plan, current } = await deps.store.tx(async () => {
      const current = await readByKeyOrId(deps.store, name);
      requirePreconditions(conditions, current, `topology ${name}`);
      return { plan: await dryRunPlan(deps.store, name, await prepareApply(deps.store, name, doc, current)), current };
    });
    if (current) c.header('ETag', etagOf(current));
    return c.json(plan, 200);
  }
  return mutate(c, route, async () => {
    const previous = await readByKeyOrId(deps.store, name);
    requirePreconditions(conditions, previous, `topology ${name}`);
    if (previous) requireSettled(previous, 'topology');
    const prepared = await prepareApply(deps.store, name, doc, previous);
    const plan = await dryRunPlan(deps.store, name, prepared);
    const id = previous?.id ?? newId('topology');
    return {
      job: { kind: previous ? 'topology.apply' : 'topology.create', resource: { type: 'topology', id }, hosts: prepared.hostIds },
      prepare: async (job) => {
        if (previous) await saveResource(deps.store, previous, { state: 'pending', jobId: job.id });
        // The ledger is written now: a topology applied at the same time sees these names and keys as taken.
        else
          await insertPending(deps.store, {
            id,
            type: 'topology',
            key: name,
            jobId: job.id,
            data: { ...topologyData(name, doc, prepared.desired), owned: {} },
          });
      },
      work: (ctx) => applyTopology(ctx, id, doc, prepared, !previous),
      successStatus: previous ? 200 : 201,
      render: async () => {
        const t = await readResource(deps.store, 'topology', id);
        return t ? { ...(await renderTopology(deps.store, t)), plan } : { plan };
      },
    };
  });
});
