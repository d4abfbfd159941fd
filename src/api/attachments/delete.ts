import { createRoute } from '@hono/zod-openapi';
import type { AttachmentData } from '../../model/attachments.js';
import { deleteAttachment } from '../../jobs/attachments.js';
import { IdParam, PreferHeader, acceptedResponse, requireSettled, router } from '../common.js';
import { mutate, notFound } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';

export const route = createRoute({
  method: 'delete',
  path: '/attachments/{id}',
  tags: ['attachments'],
  summary: 'Detach: remove the OVS port and both veth ends',
  request: { params: IdParam, headers: PreferHeader },
  responses: { 204: { description: 'Detached' }, ...acceptedResponse, ...mutationErrorResponses },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const id = c.req.valid('param').id;
  return mutate(c, deps, () => {
    const rec = deps.store.getResource(id);
    if (!rec || rec.type !== 'attachment') throw notFound('attachment', id);
    requireSettled(rec, 'attachment');
    const d = rec.data as unknown as AttachmentData;
    return {
      job: { kind: 'attachment.delete', resource: { type: 'attachment', id }, hosts: [d.hostId] },
      prepare: (job) => deps.store.updateResource({ ...rec, state: 'deleting', jobId: job.id }),
      work: async (ctx) => {
        try {
          await deleteAttachment(ctx, rec);
        } catch (e) {
          if (ctx.store.getResource(id)) ctx.store.updateResource(rec);
          throw e;
        }
      },
      successStatus: 204,
    };
  }) as never;
});
