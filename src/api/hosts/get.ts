import { EtagHeaders, etagOf } from '../preconditions.js';
import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { hostKind } from '../../kinds/host.js';
import { HostSchema } from '../../model/hosts.js';
import { IdOrNameParam, router } from '../common.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';

export const route = createRoute({
  method: 'get',
  path: '/hosts/{idOrName}',
  operationId: 'getHost',
  security: requires('read'),
  tags: ['hosts'],
  summary: 'Get a host by id or name',
  description:
    '`facts` are from the last probe. Secrets are write-only: the answer says which kind of SSH key was given (`auth`), never the key or its path.',
  request: { params: IdOrNameParam },
  responses: statusResponses({
    200: { description: 'The host', headers: EtagHeaders, content: { 'application/json': { schema: HostSchema } } },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const r = await requireResource(deps, hostKind, c.req.valid('param').idOrName);
  c.header('ETag', etagOf(r));
  return c.json(hostKind.render(r), 200);
});
