import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { insertPending, readResource } from '../../jobs/records.js';
import { attachmentKind, attachmentLockMode, createAttachment, resolveAttachment } from '../../kinds/attachment.js';
import { AttachmentCreateSchema, type AttachmentCreate } from '../../model/attachments.js';
import { findBridge } from '../../kinds/refs.js';
import { readAll } from '../../jobs/records.js';
import type { Store } from '../../store/types.js';
import { CONVERGIBLE, repairMutation } from '../repair/mutation.js';
import { newId } from '../../model/names.js';
import { acceptedResponse, createdHeaders, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { AttachmentWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/attachments',
  operationId: 'createAttachment',
  security: requires('write'),
  tags: ['attachments'],
  summary: 'Attach a container (or netns, or pid) to a bridge with a veth pair',
  description:
    "pipework's `pipework ovs_bridge web1 10.11.12.100/24` as one job on the bridge's host: veth pair with the peer made inside the target, " +
    'addresses, MAC, MTU, gateway and routes inside, the host end on the bridge (OVS port with its VLAN tag, or Linux bridge port). ' +
    "On the netdev (userspace) datapath the inner end's tx checksum offload is switched off, or TCP would not work. Any failure undoes every step.",
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: AttachmentCreateSchema } } } },
  responses: statusResponses({
    201: {
      description: 'Attached',
      headers: createdHeaders('attachments', 'attachment'),
      content: { 'application/json': { schema: AttachmentWithJobSchema } },
    },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, async () => {
    // The same request again for an attachment of ours that did not settle (failed, interrupted, lost outcome,
    // stopped container): converge it rather than make a second one.
    const own = await convergibleAttachment(deps.store, body);
    if (own) return await repairMutation(deps, own, (r) => (r.type === 'attachment' ? attachmentKind.render(r) : {}), 201);
    const id = newId('attachment');
    const { data, key } = await resolveAttachment(deps.store, body, id);
    return {
      job: { kind: 'attachment.create', resource: { type: 'attachment', id }, hosts: [data.hostId], lockMode: attachmentLockMode(data) },
      prepare: async (job) => await insertPending(deps.store, { id, type: 'attachment', key, jobId: job.id, data }),
      work: (ctx) => createAttachment(ctx, id),
      successStatus: 201,
      render: async () => {
        const attachment = await readResource(deps.store, 'attachment', id);
        return attachment ? attachmentKind.render(attachment) : {};
      },
    };
  });
});

async function convergibleAttachment(store: Store, body: AttachmentCreate) {
  // The NIC types are made afresh each time (a phys NIC's record is unique by its key).
  if (body.bridge === undefined || body.addresses === 'dhcp') return null;
  const addresses = body.addresses;
  const bridge = await findBridge(store, body.bridge);
  if (!bridge) return null;
  const set = (a: readonly string[]) => JSON.stringify([...a].sort());
  return (
    (await readAll(store, 'attachment', { bridgeId: bridge.id })).find(
      (a) =>
        CONVERGIBLE.has(a.state) &&
        JSON.stringify(a.data.target) === JSON.stringify(body.target) &&
        (body.ifname === undefined || a.data.ifname === body.ifname) &&
        (body.hostIfname === undefined || a.data.hostIfname === body.hostIfname) &&
        a.data.dhcp === null &&
        set(a.data.addresses) === set(addresses) &&
        a.data.gateway === (body.gateway ?? null) &&
        (body.mac === undefined || a.data.mac === body.mac) &&
        a.data.macSeed === (body.macSeed ?? null) &&
        JSON.stringify(a.data.routes) === JSON.stringify(body.routes) &&
        JSON.stringify(a.data.rules) === JSON.stringify(body.rules) &&
        a.data.vlan === (body.vlan ?? null),
    ) ?? null
  );
}
