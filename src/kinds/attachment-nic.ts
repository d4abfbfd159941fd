/**
 * Attachments on a host NIC (pipework's physical-interface modes): a macvlan or ipvlan sub-interface of the NIC made
 * directly inside the target, or the NIC itself moved in (`phys`, pipework's --direct-phys) and moved back on delete.
 * `vlan` puts either on the NIC's 802.1Q sub-interface `<nic>.<vlan>` (made when missing, removed with the last user).
 */
import type { AttachmentCreate, AttachmentData, AttachmentType } from '../model/attachments.js';
import { ProblemError } from '../model/problems.js';
import type { Store } from '../store/types.js';
import { readAll } from '../jobs/records.js';
import { requireHost, requireHostAvailable } from './refs.js';
import { addressingData } from './attachment.js';
import type { JobContext } from '../jobs/runner.js';
import type { TypedResource } from './kind.js';

const KERNEL_NEEDS: Record<Exclude<AttachmentType, 'veth' | 'phys'>, string> = {
  macvlan: 'macvlan (CONFIG_MACVLAN)',
  ipvlan: 'ipvlan (CONFIG_IPVLAN)',
};

/** Every check that needs no host: the host, what its kernel can make (last probe), the NIC not already handed over. */
export function resolveNicAttachment(
  store: Store,
  body: AttachmentCreate,
  id: string,
  type: Exclude<AttachmentType, 'veth'>,
): { data: AttachmentData; key: string } {
  const host = requireHost(store, body.host!, '/host');
  requireHostAvailable(host);
  const facts = host.data.facts;
  const kernel = facts?.kernel ? ` (kernel ${facts.kernel})` : '';
  if (type !== 'phys' && facts?.linkTypes && !facts.linkTypes[type]) {
    throw ProblemError.validation([
      {
        pointer: '/type',
        detail: `${host.data.name}'s kernel${kernel} cannot make ${type} devices: it lacks ${KERNEL_NEEDS[type]} (the host's probe tried one)`,
      },
    ]);
  }
  if (body.vlan !== undefined && facts?.linkTypes && !facts.linkTypes.vlan) {
    throw ProblemError.validation([
      {
        pointer: '/vlan',
        detail: `${host.data.name}'s kernel${kernel} cannot make 802.1Q VLAN sub-interfaces: it lacks 8021q (CONFIG_VLAN_8021Q; the host's probe tried one)`,
      },
    ]);
  }
  if ('container' in body.target && !facts?.docker) {
    throw new ProblemError(
      'conflict',
      `${host.data.name} has no reachable Docker engine (last probe); attach a netns or pid, or re-probe the host`,
    );
  }
  const parentRef = body.parent!;
  if (type === 'phys') {
    // One target at a time can have a NIC: another phys attachment of the same NIC is a conflict before any command.
    const holder = readAll(store, 'attachment', { hostId: host.id }).find(
      (a) => a.data.type === 'phys' && (a.data.parent?.ref === parentRef || a.data.parent?.name === parentRef),
    );
    if (holder)
      throw new ProblemError('conflict', `${parentRef} on ${host.data.name} is already moved into a target by ${holder.id}`, {
        errors: [{ pointer: '/parent', detail: `held by ${holder.id}` }],
      });
  }
  const data: AttachmentData = {
    type,
    // No bridge: these fields stay empty for the NIC types (every use of them is behind `type === 'veth'`).
    bridgeId: '',
    bridgeName: '',
    bridgeType: 'linux',
    datapathType: null,
    hostId: host.id,
    hostName: host.data.name,
    parent: { ref: parentRef, name: null, mac: null, lower: null, vlanMade: false },
    mode: type === 'macvlan' ? (body.mode ?? 'bridge') : type === 'ipvlan' ? (body.mode ?? 'l2') : null,
    target: body.target,
    resolved: null,
    ifname: body.ifname ?? null,
    // No host end: a phys NIC's own name is recorded in `parent`.
    hostIfname: '',
    ...addressingData(body),
    mtu: body.mtu ?? null,
    vlan: body.vlan ?? null,
    txChecksumOffloadOff: false,
    labels: body.labels,
    container: 'container' in body.target ? body.target.container : null,
    assignedMac: null,
  };
  // phys: one record per NIC (the store's key is unique); the sub-interfaces: one per attachment.
  return { data, key: type === 'phys' ? `${host.id}/phys:${parentRef}` : `${host.id}/${type}:${id}` };
}

/** Made in the job (work in progress: the plan for the NIC types). */
export function createNicAttachment(_ctx: JobContext, attachment: TypedResource<'attachment'>): Promise<void> {
  return Promise.reject(new ProblemError('conflict', `attachment type ${attachment.data.type} is not built yet`));
}

export function removeNicAttachment(ctx: JobContext, attachment: TypedResource<'attachment'>): Promise<void> {
  ctx.store.deleteResource(attachment.id);
  return Promise.resolve();
}
