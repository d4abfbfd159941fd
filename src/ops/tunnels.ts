/** Tunnel plans: pure functions from a tunnel (and what each host has) to argv steps on both hosts. */
import {
  effectiveDstPort,
  type TunnelData,
  type TunnelEndpointData,
  type TunnelEndObservation,
  type TunnelType,
} from '../model/tunnels.js';
import { ownerFromAlias, ovsRows, parseIpJson } from './links.js';
import { diffFields, type DriftItem } from '../model/resource.js';
import { type Plan, type Step, step, vsctl } from './plan.js';

// ---- MTU
/*
 * Encapsulation overhead: what the tunnel adds around an inner Ethernet frame on the underlay, in bytes.
 * The inner Ethernet header (14) counts because the overlay carries whole frames; an MTU is L3 size.
 *   outer IP header         IPv4 20, IPv6 40
 *   GRE (gretap, OVS gre)   4 base header + 4 when a key is sent (key 0 = no key, as in OVS) + 14 inner Ethernet
 *                           → 38 over IPv4 without a key, 42 with one (24 + 14 is the no-key figure: counting
 *                             the key is what keeps a keyed tunnel from sending 1504-byte packets)
 *   VXLAN                   8 UDP + 8 VXLAN + 14 inner Ethernet → 50 over IPv4
 *   Geneve                  8 UDP + 8 Geneve base + 14 inner Ethernet = 50 on the wire without options, plus
 *                           8 reserved for one option TLV (4 header + 4 data, as OVN reserves) → 58 over IPv4:
 *                           an OVS user who adds tun_metadata flows must not end up with a black hole.
 * Not counted: an 802.1Q tag on frames from VLAN-tagged OVS ports (+4): set the attachment MTU by hand there.
 * Too small an MTU costs a few bytes; too large a one silently drops big packets, so round the safe way.
 * test/integration/tunnels.test.ts checks the wire figures on real tunnels: with DF set over a 1500-byte underlay,
 * 1462 (GRE), 1458 (GRE with a key), 1450 (VXLAN) and 1450 (Geneve) bytes get through and one byte more does not.
 */
export function encapOverhead(type: TunnelType, o: { ipv6: boolean; key: number | null }): number {
  const outerIp = o.ipv6 ? 40 : 20;
  const innerEth = 14;
  if (type === 'gre') return outerIp + 4 + (o.key ? 4 : 0) + innerEth;
  if (type === 'vxlan') return outerIp + 8 + 8 + innerEth;
  return outerIp + 8 + 8 + 8 + innerEth;
}

export const DEFAULT_MTU = 1500;

/** The MTU a tunnel end leaves for the overlay: the bridge's MTU (1500 when unset) minus the overhead. */
export function overlayMtu(bridgeMtu: number | null, type: TunnelType, o: { ipv6: boolean; key: number | null }): number {
  return (bridgeMtu ?? DEFAULT_MTU) - encapOverhead(type, o);
}

// ---- what is on the host

/** Read-only commands whose output parseEnd turns into what a host has for one end. */
export function endCommands(e: Pick<TunnelEndpointData, 'bridgeType' | 'portName'>): Record<string, string[]> {
  if (e.bridgeType === 'ovs') {
    return {
      iface: vsctl(
        '--format=json',
        '--columns=name,type,options,error,ofport,link_state,admin_state,mtu,external_ids',
        'find',
        'Interface',
        `name=${e.portName}`,
      ),
      bridge: vsctl('port-to-br', e.portName),
    };
  }
  return { link: ['ip', '-j', '-d', 'link', 'show', 'dev', e.portName] };
}

export type EndState = Omit<TunnelEndObservation, 'hostName' | 'portName' | 'drift'>;
type Outs = Record<string, { exitCode: number; stdout: string }>;

const NONE: EndState = {
  exists: false,
  owner: null,
  bridge: null,
  kind: null,
  options: {},
  ofport: null,
  error: null,
  linkState: null,
  up: null,
  mtu: null,
};

/** OVS prints empty optional columns as empty sets. */
const scalar = (v: unknown): unknown => (Array.isArray(v) ? (v.length ? v[0] : null) : v);

/** gretap keys print as dotted quads in `ip -j`. */
function keyNumber(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return undefined;
  const p = v.split('.').map(Number);
  return p.length === 4 && p.every((x) => Number.isInteger(x)) ? String(((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) : v;
}

export function parseEnd(e: Pick<TunnelEndpointData, 'bridgeType'>, out: Outs): EndState {
  if (e.bridgeType === 'ovs') {
    const row = ovsRows(out.iface?.exitCode === 0 ? out.iface.stdout : '')[0];
    if (!row) return NONE;
    const options = Object.fromEntries(
      Object.entries((row.options as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, String(v)]),
    );
    const ofport = scalar(row.ofport);
    const mtu = scalar(row.mtu);
    return {
      exists: true,
      owner: ((row.external_ids as Record<string, string> | undefined) ?? {})['netplumb-id'] ?? null,
      bridge: out.bridge?.exitCode === 0 ? out.bridge.stdout.trim() || null : null,
      kind: (row.type as string) || null,
      options,
      ofport: typeof ofport === 'number' ? ofport : null,
      error: (scalar(row.error) as string | null) ?? null,
      linkState: (scalar(row.link_state) as string | null) ?? null,
      up: scalar(row.admin_state) === null ? null : scalar(row.admin_state) === 'up',
      mtu: typeof mtu === 'number' ? mtu : null,
    };
  }
  const l = out.link?.exitCode === 0 ? parseIpJson(out.link.stdout)[0] : undefined;
  if (!l) return NONE;
  const data = l.infoData;
  const options: Record<string, string> = {};
  const remote = data.remote ?? data.remote6;
  const local = data.local ?? data.local6;
  if (typeof remote === 'string') options.remote_ip = remote;
  if (typeof local === 'string') options.local_ip = local;
  const key = data.id !== undefined ? keyNumber(data.id) : keyNumber(data.okey ?? data.key);
  if (key !== undefined) options.key = key;
  if (typeof data.port === 'number') options.dst_port = String(data.port);
  return {
    exists: true,
    owner: ownerFromAlias(l.alias),
    bridge: l.master,
    kind: l.kind,
    options,
    ofport: null,
    error: null,
    linkState: l.operstate?.toLowerCase() ?? null,
    up: l.up,
    mtu: l.mtu,
  };
}

// ---- plans

const ipv6 = (e: TunnelEndpointData) => e.remoteIp.includes(':');

/** The Linux device kind for an end (GRE carries Ethernet frames: gretap, or ip6gretap over IPv6). */
export function linuxKind(type: TunnelType, e: TunnelEndpointData): string {
  if (type === 'gre') return ipv6(e) ? 'ip6gretap' : 'gretap';
  return type;
}

/** `ip link add` for a Linux end. `local` pins the source address the other end matches on (geneve has no such option). */
export function linuxAddArgv(d: Pick<TunnelData, 'type' | 'key' | 'dstPort'>, e: TunnelEndpointData): string[] {
  const add = ['ip', 'link', 'add', 'name', e.portName, 'type', linuxKind(d.type, e)];
  const vni = String(d.key ?? 0);
  const port = String(effectiveDstPort(d));
  if (d.type === 'vxlan') return [...add, 'id', vni, 'remote', e.remoteIp, 'dstport', port, 'local', e.localIp];
  if (d.type === 'geneve') return [...add, 'id', vni, 'remote', e.remoteIp, 'dstport', port];
  // key 0 is "no key" (as in OVS): a Linux end with `key 0` would expect keyed packets an OVS end never sends.
  // ip6gretap adds an 8-byte encapsulation-limit option by default: off, so the overlay MTU is the one computed (and
  // OVS ends, which send none, interoperate).
  return [
    ...add,
    'remote',
    e.remoteIp,
    'local',
    e.localIp,
    ...(d.key ? ['key', String(d.key)] : []),
    ...(ipv6(e) ? ['encaplimit', 'none'] : []),
  ];
}

/**
 * The one OVS transaction: --may-exist add-port does not apply columns to an existing port, so the explicit set converges.
 * Over IPv6 the source is pinned to this host's tunnelIp (local_ip): an IPv6 host usually has several global addresses
 * (SLAAC, temporary, static), and the other end only takes packets whose source is the remote_ip it was given.
 */
export function ovsAddArgv(id: string, d: Pick<TunnelData, 'type' | 'key' | 'dstPort'>, e: TunnelEndpointData): string[] {
  const opts = [`options:remote_ip=${e.remoteIp}`];
  if (ipv6(e)) opts.push(`options:local_ip=${e.localIp}`);
  if (d.key !== null) opts.push(`options:key=${d.key}`);
  if (d.dstPort !== null) opts.push(`options:dst_port=${d.dstPort}`);
  return vsctl(
    '--may-exist',
    'add-port',
    e.bridgeName,
    e.portName,
    '--',
    'set',
    'Interface',
    e.portName,
    `type=${d.type}`,
    ...opts,
    `external_ids:netplumb-id=${id}`,
  );
}

/** What one end needs to know about the host before it is created: is the name there already, and whose is it. */
export interface EndFacts {
  exists: boolean;
  owner: string | null;
}

export function endSteps(id: string, d: TunnelData, e: TunnelEndpointData, facts: EndFacts): Step[] {
  const h = e.hostId;
  const what = `${d.type} tunnel end ${e.portName} on ${e.bridgeName} (remote ${e.remoteIp})`;
  // Ours already (a converging re-run): change it in place and never delete it in an undo.
  const fresh = !facts.exists;
  if (e.bridgeType === 'ovs') {
    const argv = ovsAddArgv(id, d, e);
    // Split horizon: a protected port never forwards to another protected port of the bridge.
    if (d.splitHorizon) argv.push('--', 'set', 'Port', e.portName, 'protected=true');
    return [step(h, what, argv, fresh ? { undo: vsctl('--if-exists', 'del-port', e.bridgeName, e.portName) } : {})];
  }
  const steps: Step[] = [];
  if (fresh) steps.push(step(h, what, linuxAddArgv(d, e), { undo: ['ip', 'link', 'del', 'dev', e.portName] }));
  steps.push(step(h, `mark ${e.portName} as netplumb's`, ['ip', 'link', 'set', 'dev', e.portName, 'alias', `netplumb:${id}`]));
  steps.push(step(h, `${e.portName} into bridge ${e.bridgeName}`, ['ip', 'link', 'set', 'dev', e.portName, 'master', e.bridgeName]));
  if (d.splitHorizon)
    steps.push(step(h, `${e.portName} isolated (split horizon)`, ['bridge', 'link', 'set', 'dev', e.portName, 'isolated', 'on']));
  // The cable as the record says (link: down keeps the end pulled: issue 17).
  const state = d.link === 'down' ? 'down' : 'up';
  steps.push(step(h, `${e.portName} ${state}`, ['ip', 'link', 'set', 'dev', e.portName, state]));
  return steps;
}

/**
 * Both ends in one plan: the runner undoes every completed step in reverse when one fails, so a second end
 * that cannot be made takes the first one with it, across hosts.
 */
export function createTunnelPlan(id: string, d: TunnelData, facts: [EndFacts, EndFacts]): Plan {
  return { steps: [...endSteps(id, d, d.endpoints[0], facts[0]), ...endSteps(id, d, d.endpoints[1], facts[1])] };
}

/** Delete: each end that is there and carries this tunnel's mark. Something else by that name is left alone. */
export function deleteTunnelPlan(id: string, d: TunnelData, facts: [EndFacts, EndFacts]): Plan {
  const steps: Step[] = [];
  d.endpoints.forEach((e, i) => {
    if (!facts[i]!.exists || facts[i]!.owner !== id) return;
    steps.push(
      e.bridgeType === 'ovs'
        ? step(
            e.hostId,
            `delete tunnel port ${e.portName} from ${e.bridgeName}`,
            vsctl('--if-exists', 'del-port', e.bridgeName, e.portName),
          )
        : step(e.hostId, `delete tunnel device ${e.portName}`, ['ip', 'link', 'del', 'dev', e.portName]),
    );
  });
  return { steps };
}

// ---- drift

export function endDrift(id: string, d: TunnelData, e: TunnelEndpointData, o: EndState): DriftItem[] {
  if (!o.exists) return [{ field: 'exists', desired: true, actual: false }];
  const ovs = e.bridgeType === 'ovs';
  const linuxKey = d.type === 'gre' ? (d.key ? String(d.key) : null) : String(d.key ?? 0);
  return diffFields([
    { field: 'owner', desired: id, actual: o.owner },
    { field: 'bridge', desired: e.bridgeName, actual: o.bridge },
    { field: 'kind', desired: ovs ? d.type : linuxKind(d.type, e), actual: o.kind },
    { field: 'remote_ip', desired: e.remoteIp, actual: o.options.remote_ip ?? null },
    { field: 'key', desired: ovs ? (d.key !== null ? String(d.key) : null) : linuxKey, actual: o.options.key ?? null },
    {
      field: 'dst_port',
      desired: ovs ? (d.dstPort !== null ? String(d.dstPort) : null) : d.type === 'gre' ? null : String(effectiveDstPort(d)),
      actual: o.options.dst_port ?? null,
    },
    // A pulled cable (link: down) is the device down on purpose: its drift is the `link` field's.
    { field: 'up', desired: true, actual: o.up, skip: o.up !== false || d.link === 'down' },
  ]);
}
