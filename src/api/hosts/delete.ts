import { createRoute } from '@hono/zod-openapi';
import { ProblemError } from '../../model/problems.js';
import { acceptedResponse, IdOrNameParam, PreferHeader, requireHost, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';

export const route = createRoute({
  method: 'delete',
  path: '/hosts/{idOrName}',
  tags: ['hosts'],
  summary: 'Forget a host',
  description: 'Refused (409) while bridges on the host are known: delete them first. Nothing on the host is changed.',
  request: { params: IdOrNameParam, headers: PreferHeader },
  responses: { 204: { description: 'Host forgotten' }, ...acceptedResponse, ...mutationErrorResponses },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const ref = c.req.valid('param').idOrName;
  return mutate(c, deps, () => {
    const host = requireHost(deps.store, ref);
    const used = deps.store.listResources('bridge', { limit: 1, where: { hostId: host.id } });
    if (used.items.length) {
      throw new ProblemError('conflict', `host ${JSON.stringify((host.data as { name: string }).name)} still has bridges (e.g. ${used.items[0]!.id}); delete them first`);
    }
    return {
      job: { kind: 'host.delete', resource: { type: 'host', id: host.id }, hosts: [host.id] },
      prepare: (job) => {
        host.state = 'deleting';
        host.jobId = job.id;
        deps.store.updateResource(host);
      },
      work: async (ctx) => {
        ctx.store.deleteResource(host.id);
        await deps.hosts.forget(host.id);
        ctx.log(null, 'info', `host ${host.id} forgotten`);
      },
      successStatus: 204,
    };
  }) as never;
});
