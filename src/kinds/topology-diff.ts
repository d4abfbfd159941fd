/**
 * What a topology apply changes: the desired resources against the ones the topology owns now. Unchanged slots are
 * not touched; bridges and attachments change in place where they can; tunnels and re-wired members are replaced.
 */
import { readResource } from '../jobs/records.js';
import type { AttachmentData } from '../model/attachments.js';
import { normalizeAttachmentImpairment } from '../model/impairments.js';
import type { BridgeData } from '../model/bridges.js';
import { ProblemError, type FieldError } from '../model/problems.js';
import type { TopologyChange } from '../model/topologies.js';
import type { TunnelData } from '../model/tunnels.js';
import type { Store } from '../store/types.js';
import type { TypedResource } from './kind.js';
import type { DesiredAttachment, DesiredBridge, DesiredTopology, DesiredTunnel } from './topology-resolve.js';

type Action = TopologyChange['action'];

export type Change =
  | {
      kind: 'bridge';
      action: Action;
      slot: string;
      desired: DesiredBridge | null;
      current: TypedResource<'bridge'> | null;
      fields: string[];
    }
  | {
      kind: 'tunnel';
      action: Action;
      slot: string;
      desired: DesiredTunnel | null;
      current: TypedResource<'tunnel'> | null;
      fields: string[];
    }
  | {
      kind: 'attachment';
      action: Action;
      slot: string;
      desired: DesiredAttachment | null;
      current: TypedResource<'attachment'> | null;
      fields: string[];
    };

export interface TopologyDiff {
  changes: Change[];
  unchanged: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function differing<T extends object>(a: T, b: T, fields: (keyof T)[]): string[] {
  return fields.filter((f) => !same(a[f], b[f])).map(String);
}

const BRIDGE_FIXED: (keyof BridgeData)[] = ['name', 'type', 'datapathType', 'hostId'];
const BRIDGE_IN_PLACE: (keyof BridgeData)[] = ['addresses', 'stp'];
const TUNNEL_FIELDS: (keyof TunnelData)[] = ['type', 'key', 'dstPort', 'endpoints', 'splitHorizon'];
const ATTACHMENT_REWIRE: (keyof AttachmentData)[] = ['bridgeId', 'target', 'ifname', 'hostIfname'];
const ATTACHMENT_IN_PLACE: (keyof AttachmentData)[] = ['addresses', 'gateway', 'routes', 'mtu', 'mac', 'vlan'];
/** Impairments and the cable, compared as applied (absent = none / up), so records from before them do not differ. */
const live = (d: AttachmentData) => ({ impairment: normalizeAttachmentImpairment(d.impairment), link: d.link ?? 'up' });

/** Tunnel ends compared on what the hosts see (the MTU is derived and follows the bridges). */
const tunnelShape = (d: TunnelData) => ({
  ...d,
  overlayMtu: 0,
  labels: {},
  endpoints: d.endpoints.map((e) => ({
    bridgeId: e.bridgeId,
    portName: e.portName,
    localIp: e.localIp,
    remoteIp: e.remoteIp,
    hostId: e.hostId,
  })),
});

export async function diffTopology(store: Store, owned: Record<string, string>, desired: DesiredTopology): Promise<TopologyDiff> {
  const changes: Change[] = [];
  const unchanged: string[] = [];
  const errors: FieldError[] = [];
  const wanted = new Set([...desired.bridges, ...desired.tunnels, ...desired.attachments].map((d) => d.slot));

  for (const d of desired.bridges) {
    const ownedId = owned[d.slot];
    const current = ownedId ? await readResource(store, 'bridge', ownedId) : null;
    if (!current) {
      changes.push({ kind: 'bridge', action: 'create', slot: d.slot, desired: d, current: null, fields: [] });
      continue;
    }
    const fixed = differing(current.data, d.data, BRIDGE_FIXED);
    if (fixed.length) {
      errors.push({
        pointer: `/networks/${d.network}/bridge`,
        detail: `the bridge of network ${d.network} on ${d.data.hostName} cannot change its ${fixed.join(', ')} in place: give the network a new name (a new network replaces it) or delete the topology first`,
      });
      continue;
    }
    const fields = differing(current.data, d.data, BRIDGE_IN_PLACE);
    if (fields.length) changes.push({ kind: 'bridge', action: 'update', slot: d.slot, desired: d, current, fields });
    else unchanged.push(d.slot);
  }
  for (const d of desired.tunnels) {
    const ownedId = owned[d.slot];
    const current = ownedId ? await readResource(store, 'tunnel', ownedId) : null;
    if (!current) {
      changes.push({ kind: 'tunnel', action: 'create', slot: d.slot, desired: d, current: null, fields: [] });
      continue;
    }
    const fields = differing(tunnelShape(current.data), tunnelShape(d.data), TUNNEL_FIELDS);
    if (fields.length) changes.push({ kind: 'tunnel', action: 'replace', slot: d.slot, desired: d, current, fields });
    else unchanged.push(d.slot);
  }
  for (const d of desired.attachments) {
    const ownedId = owned[d.slot];
    const current = ownedId ? await readResource(store, 'attachment', ownedId) : null;
    if (!current) {
      changes.push({ kind: 'attachment', action: 'create', slot: d.slot, desired: d, current: null, fields: [] });
      continue;
    }
    const rewire = differing(current.data, d.data, ATTACHMENT_REWIRE);
    const inPlace = [
      ...differing(current.data, d.data, ATTACHMENT_IN_PLACE),
      ...differing(live(current.data), live(d.data), ['impairment', 'link']),
    ];
    if (rewire.length)
      changes.push({ kind: 'attachment', action: 'replace', slot: d.slot, desired: d, current, fields: [...rewire, ...inPlace] });
    else if (inPlace.length) changes.push({ kind: 'attachment', action: 'update', slot: d.slot, desired: d, current, fields: inPlace });
    else unchanged.push(d.slot);
  }
  // Whatever it owns and no longer wants goes.
  for (const [slot, id] of Object.entries(owned)) {
    if (wanted.has(slot)) continue;
    const type = slot.slice(0, slot.indexOf(':'));
    if (type === 'bridge')
      changes.push({ kind: 'bridge', action: 'delete', slot, desired: null, current: await readResource(store, 'bridge', id), fields: [] });
    else if (type === 'tunnel')
      changes.push({ kind: 'tunnel', action: 'delete', slot, desired: null, current: await readResource(store, 'tunnel', id), fields: [] });
    else if (type === 'attachment')
      changes.push({
        kind: 'attachment',
        action: 'delete',
        slot,
        desired: null,
        current: await readResource(store, 'attachment', id),
        fields: [],
      });
  }
  if (errors.length) throw ProblemError.validation(errors);
  return { changes, unchanged };
}

/** How much a change disturbs traffic, and whose. */
export function impact(change: Change, desired: DesiredTopology): Pick<TopologyChange, 'disruption' | 'affects'> {
  const membersOn = (network: string, hostIds: string[]) =>
    desired.attachments.filter((a) => a.network === network && hostIds.includes(a.data.hostId)).map((a) => a.member);
  const network = (change.desired?.network ?? change.slot.slice(change.slot.indexOf(':') + 1).split('/')[0])!;
  switch (change.kind) {
    case 'bridge': {
      const hostId = (change.desired?.data ?? change.current?.data)?.hostId;
      return {
        disruption: change.action === 'update' && change.fields.includes('addresses') ? 'link-flap' : 'none',
        affects: hostId ? membersOn(network, [hostId]) : [],
      };
    }
    case 'tunnel': {
      const ends = (change.desired?.data ?? change.current?.data)?.endpoints ?? [];
      return {
        disruption: change.action === 'create' ? 'none' : 'link-flap',
        affects: membersOn(
          network,
          ends.map((e) => e.hostId),
        ),
      };
    }
    case 'attachment': {
      const member = change.desired?.member ?? change.slot.slice('attachment:'.length);
      // Impairments change qdiscs and loss rules only: the link stays up and nothing is re-made.
      const liveOnly = change.action === 'update' && change.fields.every((f) => f === 'impairment');
      const disruption = change.action === 'create' || liveOnly ? 'none' : change.action === 'update' ? 'link-flap' : 'reattach';
      return { disruption, affects: [member] };
    }
  }
}
