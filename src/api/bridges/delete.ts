import { createRoute } from '@hono/zod-openapi';
import type { BridgeData } from '../../model/bridges.js';
import { ProblemError } from '../../model/problems.js';
import { deleteBridge } from '../../jobs/bridges.js';
import { deleteDependents, dependentsOf } from '../../jobs/dependents.js';
import { IdParam, PreferHeader, acceptedResponse, requireBridge, requireSettled, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';
import { CascadeQuery } from './schema.js';

export const route = createRoute({
  method: 'delete',
  path: '/bridges/{id}',
  tags: ['bridges'],
  summary: 'Delete a bridge (409 while attachments or tunnels use it, unless cascade=true)',
  request: { params: IdParam, query: CascadeQuery, headers: PreferHeader },
  responses: { 204: { description: 'Bridge gone from the host' }, ...acceptedResponse, ...mutationErrorResponses },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const ref = c.req.valid('param').id;
  const cascade = c.req.valid('query').cascade === 'true';
  return mutate(c, deps, () => {
    const rec = requireBridge(deps.store, ref);
    const d = rec.data as unknown as BridgeData;
    requireSettled(rec, 'bridge');
    const deps_ = dependentsOf(deps.store, rec.id);
    if (deps_.items.length && !cascade) {
      throw new ProblemError('conflict', `bridge ${d.hostName}/${d.name} is used by ${deps_.items.map((r) => r.id).join(', ')}; delete them first or pass ?cascade=true`);
    }
    return {
      job: { kind: 'bridge.delete', resource: { type: 'bridge', id: rec.id }, hosts: [d.hostId, ...deps_.hosts] },
      prepare: (job) => deps.store.updateResource({ ...rec, state: 'deleting', jobId: job.id }),
      work: (ctx) => deleteBridge(ctx, rec.id, { cascade, deleteDependents: () => deleteDependents(ctx, deps_.items) }),
      successStatus: 204,
    };
  }) as never;
});
