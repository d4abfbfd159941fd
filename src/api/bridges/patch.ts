import { createRoute } from '@hono/zod-openapi';
import { BridgePatchSchema, renderBridge, type BridgeData } from '../../model/bridges.js';
import { updateBridge } from '../../jobs/bridges.js';
import { IdParam, PreferHeader, acceptedResponse, nowIso, requireBridge, requireSettled, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';
import { BridgeWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'patch',
  path: '/bridges/{id}',
  tags: ['bridges'],
  summary: 'Change addresses, MTU, STP or labels; the host converges in place',
  request: { params: IdParam, headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: BridgePatchSchema } } } },
  responses: {
    200: { description: 'Bridge converged', content: { 'application/json': { schema: BridgeWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  const ref = c.req.valid('param').id;
  return mutate(c, deps, () => {
    const rec = requireBridge(deps.store, ref);
    requireSettled(rec, 'bridge');
    const previous = rec.data as unknown as BridgeData;
    const next: BridgeData = {
      ...previous,
      ...(body.addresses ? { addresses: body.addresses } : {}),
      ...(body.mtu !== undefined ? { mtu: body.mtu } : {}),
      ...(body.stp !== undefined ? { stp: body.stp } : {}),
      ...(body.labels ? { labels: body.labels } : {}),
    };
    return {
      job: { kind: 'bridge.update', resource: { type: 'bridge', id: rec.id }, hosts: [previous.hostId] },
      prepare: (job) => deps.store.updateResource({ ...rec, data: next as never, state: 'pending', jobId: job.id, updatedAt: nowIso() }),
      work: (ctx) => updateBridge(ctx, rec.id, previous),
      successStatus: 200,
      render: () => renderBridge(deps.store.getResource(rec.id)!),
    };
  }) as never;
});
