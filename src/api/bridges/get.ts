import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bridgeKind } from '../../kinds/bridge.js';
import { BridgeSchema } from '../../model/bridges.js';
import { ProblemSchema } from '../../model/jobs.js';
import { IdParam, ObserveQuery, router, type Env } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { requireResource, viewOf } from '../resources.js';
import { NaturalKeyParams } from './schema.js';

const responses = statusResponses({
  200: {
    description: 'The bridge (with `observed` live state and drift when observe=true)',
    content: { 'application/json': { schema: BridgeSchema } },
  },
  503: { description: 'observe=true and the host cannot be reached', content: { 'application/problem+json': { schema: ProblemSchema } } },
  ...notFoundResponse,
  ...errorResponses,
});

export const route = createRoute({
  method: 'get',
  path: '/bridges/{id}',
  tags: ['bridges'],
  summary: 'Get a bridge by id',
  request: { params: IdParam, query: ObserveQuery },
  responses,
});

export const byNameRoute = createRoute({
  method: 'get',
  path: '/bridges/{host}/{name}',
  tags: ['bridges'],
  summary: 'Get a bridge by host and name',
  request: { params: NaturalKeyParams, query: ObserveQuery },
  responses,
});

async function answer(c: Context<Env>, ref: string, observe: boolean) {
  const deps = c.get('deps');
  return c.json(await viewOf(deps, bridgeKind, requireResource(deps, bridgeKind, ref), observe), 200);
}

export const app = router()
  .openapi(route, (c) => answer(c, c.req.valid('param').id, c.req.valid('query').observe === 'true'))
  .openapi(byNameRoute, (c) => {
    const p = c.req.valid('param');
    return answer(c, `${p.host}/${p.name}`, c.req.valid('query').observe === 'true');
  });
