import { createRoute } from '@hono/zod-openapi';
import { renderTunnel, TunnelSchema } from '../../model/tunnels.js';
import { observeTunnel } from '../../jobs/tunnels.js';
import { IdParam, router } from '../common.js';
import { notFound } from '../mutation.js';
import { errorResponses, notFoundResponse } from '../problems.js';
import { ObserveQuery } from './schema.js';
import { ProblemSchema } from '../../model/jobs.js';

export const route = createRoute({
  method: 'get',
  path: '/tunnels/{id}',
  tags: ['tunnels'],
  summary: 'Get a tunnel (observe=true: both ends as the hosts have them)',
  description: "With `observe=true`, `observed.endpoints[]` holds each end's live state: for OVS ends the Interface's `error`, `ofport`, " +
    '`link_state` and the options actually set; for Linux ends the device from `ip -j -d link show`; plus drift from the spec.',
  request: { params: IdParam, query: ObserveQuery },
  responses: {
    200: { description: 'The tunnel', content: { 'application/json': { schema: TunnelSchema } } },
    503: { description: 'observe=true and a host cannot be reached', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const id = c.req.valid('param').id;
  const rec = deps.store.getResource(id);
  if (!rec || rec.type !== 'tunnel') throw notFound('tunnel', id);
  const view = renderTunnel(rec);
  if (c.req.valid('query').observe === 'true') return c.json({ ...view, observed: await observeTunnel(deps.hosts, deps.store, rec) }, 200);
  return c.json(view, 200);
});
