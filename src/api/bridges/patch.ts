import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { bridgeKind, updateBridge } from '../../kinds/bridge.js';
import { BridgePatchSchema, type BridgeData } from '../../model/bridges.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, EtagHeaders, IfMatchHeader } from '../preconditions.js';
import { updateMutation } from '../resources.js';
import { BridgeWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'patch',
  path: '/bridges/{id}',
  operationId: 'updateBridge',
  security: requires('write'),
  tags: ['bridges'],
  summary: 'Change addresses, MTU, STP or labels; the host converges in place',
  description:
    'Only the fields given change (`addresses` and `labels` are replaced whole). The job converges the bridge in place, without re-creating it. Refused (409) while another job on the bridge runs, and for a bridge a topology owns (change the topology instead).',
  request: {
    params: idParam('bridge'),
    headers: PreferHeader.extend(IfMatchHeader.shape),
    body: { required: true, content: { 'application/json': { schema: BridgePatchSchema } } },
  },
  responses: statusResponses({
    200: { description: 'Bridge converged', headers: EtagHeaders, content: { 'application/json': { schema: BridgeWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, () =>
    updateMutation(
      deps,
      bridgeKind,
      c.req.valid('param').id,
      (previous): BridgeData => ({
        ...previous,
        ...(body.addresses ? { addresses: body.addresses } : {}),
        ...(body.mtu !== undefined ? { mtu: body.mtu } : {}),
        ...(body.stp !== undefined ? { stp: body.stp } : {}),
        ...(body.labels ? { labels: body.labels } : {}),
      }),
      updateBridge,
      conditionsOf(c),
    ),
  );
});
