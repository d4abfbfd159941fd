import { createRoute } from '@hono/zod-openapi';
import type { TunnelData } from '../../model/tunnels.js';
import { deleteTunnel } from '../../jobs/tunnels.js';
import { IdParam, PreferHeader, acceptedResponse, requireSettled, router } from '../common.js';
import { mutate, notFound } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';

export const route = createRoute({
  method: 'delete',
  path: '/tunnels/{id}',
  tags: ['tunnels'],
  summary: "Delete a tunnel: both ends, in one job; the bridges' overlayMtu is recomputed",
  request: { params: IdParam, headers: PreferHeader },
  responses: { 204: { description: 'Both ends gone from the hosts' }, ...acceptedResponse, ...mutationErrorResponses },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const id = c.req.valid('param').id;
  return mutate(c, deps, () => {
    const rec = deps.store.getResource(id);
    if (!rec || rec.type !== 'tunnel') throw notFound('tunnel', id);
    requireSettled(rec, 'tunnel');
    const d = rec.data as unknown as TunnelData;
    return {
      job: { kind: 'tunnel.delete', resource: { type: 'tunnel', id: rec.id }, hosts: d.endpoints.map((e) => e.hostId) },
      prepare: (job) => deps.store.updateResource({ ...rec, state: 'deleting', jobId: job.id }),
      work: (ctx) => deleteTunnel(ctx, rec.id),
      successStatus: 204,
    };
  }) as never;
});
