import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { attachmentKind, updateAttachment } from '../../kinds/attachment.js';
import { checkAttachmentImpairment } from '../../kinds/impairments.js';
import { ProblemError } from '../../model/problems.js';
import { AttachmentPatchSchema, type AttachmentData } from '../../model/attachments.js';
import { normalizeAttachmentImpairment } from '../../model/impairments.js';
import { idParam, PreferHeader, acceptedResponse, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, preconditionResponses, statusResponses } from '../problems.js';
import { conditionsOf, EtagHeaders, IfMatchHeader } from '../preconditions.js';
import { updateMutation } from '../resources.js';
import { AttachmentWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'patch',
  path: '/attachments/{id}',
  operationId: 'updateAttachment',
  security: requires('write'),
  tags: ['attachments'],
  summary: 'Change routes, rules and the gateway, impair the link or pull the cable, live (no re-attach)',
  description:
    '`routes`, `rules` (pipework route / rule) and `gateway` converge inside the target: what is no longer wanted is removed, ' +
    'the rest added, in one job that puts back what was there on failure. ' +
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
    headers: PreferHeader.extend(IfMatchHeader.shape),
    body: { required: true, content: { 'application/json': { schema: AttachmentPatchSchema } } },
  },
  responses: statusResponses({
    200: { description: 'Changed', headers: EtagHeaders, content: { 'application/json': { schema: AttachmentWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
    ...preconditionResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, () =>
    updateMutation(
      deps,
      attachmentKind,
      c.req.valid('param').id,
      async (previous): Promise<AttachmentData> => {
        if (previous.type !== 'veth') {
          const veth = (['impairment', 'link'] as const).filter((k) => body[k] !== undefined);
          if (veth.length)
            throw ProblemError.validation(
              veth.map((k) => ({
                pointer: `/${k}`,
                detail: `${k === 'link' ? 'pulling the cable' : 'impairments'} need a veth attachment; this one is ${previous.type}`,
              })),
            );
        }
        if (body.gateway !== undefined && body.gateway !== null && previous.dhcp)
          throw ProblemError.validation([{ pointer: '/gateway', detail: 'with DHCP the router comes from the lease' }]);
        if (body.impairment !== undefined) await checkAttachmentImpairment(deps.store, previous, body.impairment);
        return {
          ...previous,
          ...(body.impairment !== undefined ? { impairment: normalizeAttachmentImpairment(body.impairment) } : {}),
          ...(body.link !== undefined ? { link: body.link } : {}),
          ...(body.gateway !== undefined ? { gateway: body.gateway } : {}),
          ...(body.routes !== undefined ? { routes: body.routes } : {}),
          ...(body.rules !== undefined ? { rules: body.rules } : {}),
        };
      },
      updateAttachment,
      conditionsOf(c),
    ),
  );
});
