import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { BridgeSchema, renderBridge } from '../../model/bridges.js';
import { ProblemSchema } from '../../model/jobs.js';
import { observeBridge } from '../../jobs/bridges.js';
import type { ResourceRecord } from '../../store/types.js';
import { IdParam, requireBridge, router, type Env } from '../common.js';
import { errorResponses, notFoundResponse } from '../problems.js';
import { NaturalKeyParams, ObserveQuery } from './schema.js';

const responses = {
  200: { description: 'The bridge (with `observed` live state and drift when observe=true)', content: { 'application/json': { schema: BridgeSchema } } },
  503: { description: 'observe=true and the host cannot be reached', content: { 'application/problem+json': { schema: ProblemSchema } } },
  ...notFoundResponse,
  ...errorResponses,
} as const;

export const route = createRoute({
  method: 'get', path: '/bridges/{id}', tags: ['bridges'], summary: 'Get a bridge by id',
  request: { params: IdParam, query: ObserveQuery }, responses,
});

export const byNameRoute = createRoute({
  method: 'get', path: '/bridges/{host}/{name}', tags: ['bridges'], summary: 'Get a bridge by host and name',
  request: { params: NaturalKeyParams, query: ObserveQuery }, responses,
});

async function answer(c: Context<Env>, rec: ResourceRecord, observe: boolean) {
  const deps = c.get('deps');
  const view = renderBridge(rec);
  if (observe) return c.json({ ...view, observed: await observeBridge(deps.hosts, deps.store, rec) }, 200);
  return c.json(view, 200);
}

export const app = router()
  .openapi(route, (c) => answer(c, requireBridge(c.get('deps').store, c.req.valid('param').id), c.req.valid('query').observe === 'true') as never)
  .openapi(byNameRoute, (c) => {
    const p = c.req.valid('param');
    return answer(c, requireBridge(c.get('deps').store, `${p.host}/${p.name}`), c.req.valid('query').observe === 'true') as never;
  });
