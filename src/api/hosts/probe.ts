import { EtagHeaders } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { probeAndRecord } from '../../jobs/hosts.js';
import { readResource } from '../../jobs/records.js';
import { hostKind } from '../../kinds/host.js';
import { ProblemError } from '../../model/problems.js';
import { acceptedResponse, IdOrNameParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { HostWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/hosts/{idOrName}/probe',
  operationId: 'probeHost',
  security: requires('hosts'),
  tags: ['hosts'],
  summary: 'Probe a host again and refresh its facts',
  description:
    'Runs a probe job (kernel, iproute2, Open vSwitch with its datapath types, Docker, kernel modules) and records the facts. A host that cannot be reached is recorded as `failed` with `facts.reachable: false`, and the job fails with the problem (503 `host-unreachable` or `host-key-mismatch`).',
  request: { params: IdOrNameParam, headers: PreferHeader },
  responses: statusResponses({
    200: { description: 'Fresh facts', headers: EtagHeaders, content: { 'application/json': { schema: HostWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const ref = c.req.valid('param').idOrName;
  return mutate(c, route, async () => {
    const host = await requireResource(deps, hostKind, ref);
    if (host.state === 'deleting') throw new ProblemError('conflict', `host ${ref} is being deleted`);
    return {
      job: { kind: 'host.probe', resource: { type: 'host', id: host.id }, hosts: [host.id] },
      work: (ctx) => probeAndRecord(ctx, host.id),
      successStatus: 200,
      render: async () => hostKind.render((await readResource(deps.store, 'host', host.id)) ?? host),
    };
  });
});
