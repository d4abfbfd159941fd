import { createRoute } from '@hono/zod-openapi';
import { AttachmentCreateSchema, defaultHostIfname, renderAttachment, type AttachmentData } from '../../model/attachments.js';
import { bridgeRef, type BridgeData } from '../../model/bridges.js';
import type { HostData } from '../../model/hosts.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { createAttachment } from '../../jobs/attachments.js';
import { acceptedResponse, interfaceNamesOnHost, PreferHeader, requireBridge, router } from '../common.js';
import { insertPending } from '../../jobs/records.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses } from '../problems.js';
import { AttachmentWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/attachments',
  tags: ['attachments'],
  summary: 'Attach a container (or netns, or pid) to a bridge with a veth pair',
  description:
    'pipework\'s `pipework ovs_bridge web1 10.11.12.100/24` as one job on the bridge\'s host: veth pair with the peer made inside the target, ' +
    'addresses, MAC, MTU, gateway and routes inside, the host end on the bridge (OVS port with its VLAN tag, or Linux bridge port). ' +
    'On the netdev (userspace) datapath the inner end\'s tx checksum offload is switched off, or TCP would not work. Any failure undoes every step.',
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: AttachmentCreateSchema } } } },
  responses: {
    201: { description: 'Attached', content: { 'application/json': { schema: AttachmentWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  },
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, deps, () => {
    const br = requireBridge(deps.store, body.bridge, '/bridge');
    const b = br.data as unknown as BridgeData;
    if (br.state !== 'ready') throw new ProblemError('conflict', `bridge ${b.hostName}/${b.name} is ${br.state}`);
    if (body.vlan !== undefined && b.type !== 'ovs') throw ProblemError.validation([{ pointer: '/vlan', detail: 'VLAN tags need an OVS bridge; this one is a Linux bridge' }]);
    const host = deps.store.getResource(b.hostId)!;
    const hf = (host.data as unknown as HostData).facts;
    if (b.datapathType === 'netdev' && hf && hf.ethtool === false) {
      throw new ProblemError('conflict', `${b.hostName} has no ethtool, which the netdev datapath needs to switch off tx checksum offload (install ethtool, then POST /hosts/${b.hostName}/probe)`);
    }
    if ('container' in body.target && !hf?.docker) {
      throw new ProblemError('conflict', `${b.hostName} has no reachable Docker engine (last probe); attach a netns or pid, or re-probe the host`);
    }
    const id = newId('attachment');
    const hostIfname = body.hostIfname ?? defaultHostIfname(id);
    const owner = interfaceNamesOnHost(deps.store, b.hostId).get(hostIfname);
    if (owner) throw new ProblemError('conflict', `${hostIfname} is already used on ${b.hostName} by ${owner}`, { errors: [{ pointer: '/hostIfname', detail: 'in use' }] });
    const data: AttachmentData = {
      ...bridgeRef(br),
      target: body.target, resolved: null, ifname: body.ifname ?? null, hostIfname, addresses: body.addresses, gateway: body.gateway ?? null,
      routes: body.routes, mac: body.mac ?? null, mtu: body.mtu ?? b.overlayMtu ?? b.mtu ?? null, vlan: body.vlan ?? null,
      txChecksumOffloadOff: false, labels: body.labels, container: 'container' in body.target ? body.target.container : null,
    };
    return {
      job: { kind: 'attachment.create', resource: { type: 'attachment', id }, hosts: [b.hostId] },
      prepare: (job) => insertPending(deps.store, { id, type: 'attachment', key: `${b.hostId}/${hostIfname}`, jobId: job.id, data: data as never }),
      work: (ctx) => createAttachment(ctx, deps.hosts, id),
      successStatus: 201,
      render: () => renderAttachment(deps.store.getResource(id)!),
    };
  }) as never;
});
