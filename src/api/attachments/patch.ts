import { createRoute } from '@hono/zod-openapi';
import { readResource, saveResource } from '../../jobs/records.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { checkAttachmentImpairment, updateAttachmentLive } from '../../kinds/impairments.js';
import { requireNotOwned, requireSettled } from '../../kinds/refs.js';
import { AttachmentPatchSchema, type AttachmentData } from '../../model/attachments.js';
import { normalizeAttachmentImpairment } from '../../model/impairments.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { AttachmentWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'patch',
  path: '/attachments/{id}',
  operationId: 'updateAttachment',
  tags: ['attachments'],
  summary: 'Impair the link or pull the cable, live (no re-attach)',
  description:
    '`impairment` (replaced whole; `null` clears it) sets delay, jitter, loss, rate, corruption and duplication per direction: ' +
    "`toContainer` on the bridge end's egress (tc), `fromContainer` on the target end's egress inside its namespace (tc); loss " +
    "with netem, or where the kernel has no netem: towards the target with nftables `numgen random` on its end's ingress hook, " +
    'from it with an htb + classic-BPF random filter that steals the chosen packets to a down IFB device (silent to its own ' +
    'sockets; nftables on the egress hook where that is missing). ' +
    'Rate uses tbf; delay, jitter, corruption and ' +
    "duplication need netem, and a host whose kernel lacks it answers 422 naming it, before any command runs (the host's " +
    '`facts.trafficControl` says what it has). `link: "down"` pulls the cable: the bridge end goes down and the target\'s ' +
    'interface loses carrier (NO-CARRIER); `"up"` plugs it back in. The veth, addresses and routes stay; a failure puts back ' +
    'what was there. Refused (409) for an attachment a topology owns (set `impairment`/`link` on the member instead).',
  request: {
    params: idParam('attachment'),
    headers: PreferHeader,
    body: { required: true, content: { 'application/json': { schema: AttachmentPatchSchema } } },
  },
  responses: statusResponses({
    200: { description: 'Changed', content: { 'application/json': { schema: AttachmentWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  const ref = c.req.valid('param').id;
  return mutate(c, route, () => {
    const attachment = requireResource(deps, attachmentKind, ref);
    requireNotOwned(attachment, 'attachment');
    requireSettled(attachment, 'attachment');
    const previous = attachment.data;
    if (body.impairment !== undefined) checkAttachmentImpairment(deps.store, previous, body.impairment);
    const next: AttachmentData = {
      ...previous,
      ...(body.impairment !== undefined ? { impairment: normalizeAttachmentImpairment(body.impairment) } : {}),
      ...(body.link !== undefined ? { link: body.link } : {}),
    };
    return {
      job: {
        kind: 'attachment.update',
        resource: { type: 'attachment', id: attachment.id },
        hosts: [previous.hostId],
        lockMode: attachmentKind.lockMode,
        params: { previous },
      },
      prepare: (job) => saveResource(deps.store, { ...attachment }, { data: next, state: 'pending', jobId: job.id }),
      work: (ctx) => updateAttachmentLive(ctx, attachment.id, previous),
      successStatus: 200,
      render: () => attachmentKind.render(readResource(deps.store, 'attachment', attachment.id) ?? attachment),
    };
  });
});
