import { createRoute } from '@hono/zod-openapi';
import { HostSchema, renderHost } from '../../model/hosts.js';
import { IdOrNameParam, requireHost, router } from '../common.js';
import { errorResponses, notFoundResponse } from '../problems.js';

export const route = createRoute({
  method: 'get',
  path: '/hosts/{idOrName}',
  tags: ['hosts'],
  summary: 'Get a host by id or name',
  request: { params: IdOrNameParam },
  responses: { 200: { description: 'The host', content: { 'application/json': { schema: HostSchema } } }, ...notFoundResponse, ...errorResponses },
});

export const app = router().openapi(route, (c) => {
  const { store } = c.get('deps');
  return c.json(renderHost(requireHost(store, c.req.valid('param').idOrName)), 200);
});
