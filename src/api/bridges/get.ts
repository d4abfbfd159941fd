import { EtagHeaders, etagOf } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import type { Context } from 'hono';
import { bridgeKind } from '../../kinds/bridge.js';
import { BridgeSchema } from '../../model/bridges.js';
import { idParam, ObserveQuery, router, type Env } from '../common.js';
import { errorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource, viewOf } from '../resources.js';
import { NaturalKeyParams } from './schema.js';

const observeDescription =
  'With `observe=true` the answer adds `observed`: the bridge as the host has it (existence, state, addresses, MTU, datapath, ports and the netplumb ids marked on them) and its `drift` from the record.';

const responses = statusResponses({
  200: {
    description: 'The bridge (with `observed` live state and drift when observe=true)',
    headers: EtagHeaders,
    content: { 'application/json': { schema: BridgeSchema } },
  },
  ...notFoundResponse,
  ...errorResponses,
  ...observeErrorResponses,
});

export const route = createRoute({
  method: 'get',
  path: '/bridges/{id}',
  operationId: 'getBridge',
  security: requires('read'),
  tags: ['bridges'],
  summary: 'Get a bridge by id',
  description: observeDescription,
  request: { params: idParam('bridge'), query: ObserveQuery },
  responses,
});

export const byNameRoute = createRoute({
  method: 'get',
  path: '/bridges/{host}/{name}',
  operationId: 'getBridgeByName',
  security: requires('read'),
  tags: ['bridges'],
  summary: 'Get a bridge by host and name',
  description: `The bridge as \`docker1/ovs_bridge\` names it: host name (or id), bridge name. ${observeDescription}`,
  request: { params: NaturalKeyParams, query: ObserveQuery },
  responses,
});

async function answer(c: Context<Env>, ref: string, observe: boolean) {
  const deps = c.get('deps');
  const r = await requireResource(deps, bridgeKind, ref);
  c.header('ETag', etagOf(r));
  return c.json(await viewOf(deps, bridgeKind, r, observe), 200);
}

export const app = router()
  .openapi(route, (c) => answer(c, c.req.valid('param').id, c.req.valid('query').observe === 'true'))
  .openapi(byNameRoute, (c) => {
    const p = c.req.valid('param');
    return answer(c, `${p.host}/${p.name}`, c.req.valid('query').observe === 'true');
  });
