/**
 * A topology document → the resources it wants (bridges, tunnels, attachments, each with its full stored data and
 * its id), and the allocation ledger that makes every chosen value stable: addresses, keys, names and MACs are
 * keyed by the document's own names and kept from the previous apply, so an edit never renumbers what it did not
 * touch. Every error is collected (with a JSON pointer into the document) before anything runs.
 */
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { readAll } from '../jobs/records.js';
import { VETH_STATIC, type AttachmentData } from '../model/attachments.js';
import { isImpaired, normalizeAttachmentImpairment } from '../model/impairments.js';
import { impairmentErrors } from './impairments.js';
import type { BridgeData } from '../model/bridges.js';
import { idPattern, newId } from '../model/names.js';
import { canonicalCidr, ipFamily } from '../model/net.js';
import { ProblemError, type FieldError } from '../model/problems.js';
import type { Allocations, TopologyData, TopologyDocument, TopologyMember, TopologyNetwork } from '../model/topologies.js';
import { defaultPortName, type TunnelData, type TunnelEndpointData } from '../model/tunnels.js';
import { overlayMtu } from '../ops/tunnels.js';
import type { Store } from '../store/types.js';
import { resolveDatapath } from './bridge.js';
import type { TypedResource } from './kind.js';
import { DOCKER_RECORD } from '../model/docker-plugin.js';
import { interfaceNamesIn, readNamedInterfaces } from './refs.js';
import { kernelGap } from './tunnel-resolve.js';

export interface DesiredBridge {
  slot: string;
  id: string;
  network: string;
  data: BridgeData;
}
export interface DesiredTunnel {
  slot: string;
  id: string;
  network: string;
  data: TunnelData;
}
export interface DesiredAttachment {
  slot: string;
  id: string;
  network: string;
  /** `<network>/<host>/<container|netns>`: the member's ledger key. */
  member: string;
  data: AttachmentData;
}
export interface DesiredTopology {
  bridges: DesiredBridge[];
  tunnels: DesiredTunnel[];
  attachments: DesiredAttachment[];
  allocations: Allocations;
  /** Host ids, in the order the document first names them. */
  hosts: string[];
}

const emptyAllocations = (): Allocations => ({
  memberAddresses: {},
  hostAddresses: {},
  keys: {},
  bridgeNames: {},
  hostIfnames: {},
  ifnames: {},
  macs: {},
});

/** A short, stable, interface-name-safe digest. */
function digest(text: string, chars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, chars);
}

/** The MAC a member gets unless it names one: locally administered, unicast, derived from its names. */
export function derivedMac(topology: string, member: string): string {
  const h = createHash('sha256').update(`${topology}/${member}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export const memberKey = (network: string, m: Pick<TopologyMember, 'host' | 'container' | 'netns'>) =>
  `${network}/${m.host}/${m.container ?? `netns:${m.netns}`}`;

/** Addresses of a subnet in order, skipping the network and broadcast addresses (IPv4), as CIDRs with its prefix. */
function* poolOf(subnet: string): Generator<string> {
  const [net, len] = ipaddr.parseCIDR(subnet);
  const bytes = net.toByteArray();
  const bits = bytes.length * 8;
  const size = 2n ** BigInt(bits - len);
  let base = 0n;
  for (const b of bytes) base = (base << 8n) | BigInt(b);
  const first = net.kind() === 'ipv4' && len <= 30 ? 1n : 0n;
  const last = net.kind() === 'ipv4' && len <= 30 ? size - 2n : size - 1n;
  for (let i = first; i <= last && i < 1_000_000n; i++) {
    let v = base + i;
    const out: number[] = [];
    for (let k = 0; k < bytes.length; k++) {
      out.unshift(Number(v & 255n));
      v >>= 8n;
    }
    yield `${ipaddr.fromByteArray(out).toString()}/${len}`;
  }
}

function inSubnet(cidr: string, subnet: string): boolean {
  const [a] = ipaddr.parseCIDR(cidr);
  const [net, len] = ipaddr.parseCIDR(subnet);
  return a.kind() === net.kind() && a.match(net, len);
}

/** An address as given (bare, or with a prefix) → a CIDR with the subnet's prefix length. */
function withPrefix(address: string, subnet: string | undefined): string | null {
  if (address.includes('/')) return canonicalCidr(address);
  const len = subnet ? subnet.split('/')[1] : ipFamily(address) === 6 ? '64' : '24';
  return canonicalCidr(`${address}/${len}`);
}

function overlaps(a: string, b: string): boolean {
  const [na, la] = ipaddr.parseCIDR(a);
  const [nb, lb] = ipaddr.parseCIDR(b);
  if (na.kind() !== nb.kind()) return false;
  return la <= lb ? nb.match(na, la) : na.match(nb, lb);
}

/** Host pairs a network's tunnels join: every pair (full mesh) or the hub with each other host. */
function hostPairs(hosts: string[], mesh: TopologyNetwork['mesh']): [string, string][] {
  if (mesh === 'full') return hosts.flatMap((a, i) => hosts.slice(i + 1).map((b): [string, string] => [a, b]));
  const others = hosts.filter((h) => h !== mesh.hub);
  return others.map((o): [string, string] => [mesh.hub, o]);
}

/**
 * Keys (GRE key / VNI) in use on each host by tunnels this topology does not own, and by other topologies' ledgers
 * (a topology applied at the same time has its ledger stored before its tunnels exist).
 */
async function keysInUse(store: Store, topology: string): Promise<Map<string, Set<number>>> {
  const used = new Map<string, Set<number>>();
  const add = (hostId: string, key: number) => (used.get(hostId) ?? used.set(hostId, new Set()).get(hostId)!).add(key);
  for (const t of await readAll(store, 'tunnel')) {
    if (t.data.topology !== topology) for (const e of t.data.endpoints) add(e.hostId, t.data.key ?? 0);
  }
  for (const other of await readAll(store, 'topology')) {
    if (other.data.name !== topology)
      for (const key of Object.values(other.data.allocations.keys)) for (const h of other.data.hosts) add(h, key);
  }
  return used;
}

/** Interface and bridge names other topologies' ledgers hold on each of their hosts (conservatively: on all of them). */
async function namesInOtherLedgers(store: Store, topology: string): Promise<Map<string, Set<string>>> {
  const names = new Map<string, Set<string>>();
  for (const other of await readAll(store, 'topology')) {
    if (other.data.name === topology) continue;
    const a = other.data.allocations;
    for (const h of other.data.hosts) {
      const set = names.get(h) ?? names.set(h, new Set()).get(h)!;
      for (const n of [...Object.values(a.bridgeNames), ...Object.values(a.hostIfnames)]) set.add(n);
    }
  }
  return names;
}

export async function resolveTopology(
  store: Store,
  name: string,
  doc: TopologyDocument,
  previous: TypedResource<'topology'> | null,
): Promise<DesiredTopology> {
  const errors: FieldError[] = [];
  const prev = previous?.data.allocations ?? emptyAllocations();
  const owned = previous?.data.owned ?? {};
  const alloc = emptyAllocations();
  const hostIds: string[] = [];
  const hostsByName = new Map<string, TypedResource<'host'>>();
  const hostsById = new Map<string, TypedResource<'host'>>();
  const desired: DesiredTopology = { bridges: [], tunnels: [], attachments: [], allocations: alloc, hosts: hostIds };
  if (doc.name !== undefined && doc.name !== name)
    errors.push({ pointer: '/name', detail: `the document is named ${JSON.stringify(doc.name)} but was sent to /topologies/${name}` });

  // Everything the checks below look at, read once: the hosts and the resources that name interfaces on them.
  const allHosts = await readAll(store, 'host');
  const named = await readNamedInterfaces(store);
  const findHostIn = (ref: string) =>
    idPattern('host').test(ref) ? allHosts.find((h) => h.id === ref) : allHosts.find((h) => h.key === ref);
  const host = (hostName: string, pointer: string): TypedResource<'host'> | null => {
    const h = hostsByName.get(hostName) ?? findHostIn(hostName);
    if (!h) {
      errors.push({ pointer, detail: `no host named ${JSON.stringify(hostName)} (register it with POST /hosts)` });
      return null;
    }
    hostsByName.set(hostName, h);
    hostsById.set(h.id, h);
    if (!hostIds.includes(h.id)) hostIds.push(h.id);
    return h;
  };

  // Names on each host that are not ours: interface names and bridges of other resources and topologies.
  const foreignNames = new Map<string, Map<string, string>>();
  const ledgers = await namesInOtherLedgers(store, name);
  const namesOn = (hostId: string) => {
    let m = foreignNames.get(hostId);
    if (!m) {
      m = new Map([...interfaceNamesIn(named, hostId)].filter(([, id]) => !Object.values(owned).includes(id)));
      for (const n of ledgers.get(hostId) ?? []) if (!m.has(n)) m.set(n, 'another topology');
      foreignNames.set(hostId, m);
    }
    return m;
  };
  const takenNames = new Map<string, Set<string>>(); // names this document uses, per host
  const claimName = (hostId: string, n: string, pointer: string): boolean => {
    const by = namesOn(hostId).get(n);
    const mine = takenNames.get(hostId) ?? new Set<string>();
    takenNames.set(hostId, mine);
    if (by || mine.has(n)) {
      errors.push({ pointer, detail: `${n} is already used on ${hostName(hostId)}${by ? ` by ${by}` : ' by this document'}` });
      return false;
    }
    mine.add(n);
    return true;
  };
  const hostName = (hostId: string) => hostsById.get(hostId)?.data.name ?? hostId;

  const subnetsByHost = new Map<string, { subnet: string; network: string }[]>();
  const usedKeys = await keysInUse(store, name);
  const ifnameCount = new Map<string, number>(); // per target: how many networks gave it an interface

  const dockerNames = await dockerNamesOfOthers(store, name);
  for (const [network, net] of Object.entries(doc.networks)) {
    const at = `/networks/${network}`;
    // Members, grouped by host in document order.
    const memberHosts: string[] = [];
    net.members.forEach((m, i) => {
      const h = host(m.host, `${at}/members/${i}/host`);
      if (h && !memberHosts.includes(h.id)) memberHosts.push(h.id);
    });
    // Published to Docker: its hosts get the bridge (and tunnels) even without members; a name per host, one network.
    if (net.docker) {
      net.docker.hosts.forEach((hn, i) => {
        const h = host(hn, `${at}/docker/hosts/${i}`);
        if (h && !memberHosts.includes(h.id)) memberHosts.push(h.id);
      });
      if (!net.subnet || ipFamily(net.subnet) !== 4)
        errors.push({
          pointer: `${at}/docker`,
          detail: 'a network published to Docker needs an IPv4 subnet (Docker takes its addresses from it)',
        });
      if (!memberHosts.length)
        errors.push({ pointer: `${at}/docker/hosts`, detail: 'name the hosts that get the Docker network (or give the network members)' });
      const clash = dockerNames.get(net.docker.name);
      if (clash) errors.push({ pointer: `${at}/docker/name`, detail: `Docker network ${net.docker.name} is already ${clash}'s` });
      dockerNames.set(net.docker.name, `network ${network}`);
    }
    if (net.mesh !== 'full') {
      const hub = host(net.mesh.hub, `${at}/mesh/hub`);
      if (hub && !memberHosts.includes(hub.id))
        errors.push({ pointer: `${at}/mesh/hub`, detail: 'the hub must be a host with members on this network' });
    }
    if (typeof net.hostAddresses === 'object') {
      for (const h of Object.keys(net.hostAddresses)) {
        const rec = host(h, `${at}/hostAddresses/${h}`);
        if (rec && !memberHosts.includes(rec.id))
          errors.push({ pointer: `${at}/hostAddresses/${h}`, detail: 'no member of this network is on that host' });
      }
    }

    // Subnets must not overlap on one host's bridges (routing inside the host would be ambiguous).
    if (net.subnet) {
      for (const hostId of memberHosts) {
        const list = subnetsByHost.get(hostId) ?? [];
        for (const other of list) {
          if (overlaps(other.subnet, net.subnet))
            errors.push({ pointer: `${at}/subnet`, detail: `overlaps network ${other.network}'s ${other.subnet} on ${hostName(hostId)}` });
        }
        list.push({ subnet: net.subnet, network });
        subnetsByHost.set(hostId, list);
      }
    }

    // The bridge name on every host of the network.
    const bridgeName = net.bridge.name ?? prev.bridgeNames[network] ?? `np${digest(`${name}/${network}`, 10)}`;
    alloc.bridgeNames[network] = bridgeName;

    // Addresses: given ones first (they must be inside the subnet and unique), then the pool for the rest.
    const taken = new Set<string>();
    // Addresses Docker containers hold on this network (the plugin's leases): the one ledger across hosts.
    const dockerHeld = await dockerLeases(store, name, network);
    const take = (cidr: string, pointer: string): boolean => {
      const ip = cidr.split('/')[0]!;
      if (dockerHeld.has(ip)) {
        errors.push({ pointer, detail: `${ip} is held by a Docker container on network ${network}` });
        return false;
      }
      if (taken.has(ip)) {
        errors.push({ pointer, detail: `${ip} is taken twice in network ${network}` });
        return false;
      }
      taken.add(ip);
      return true;
    };
    const given = (address: string, pointer: string): string | null => {
      const cidr = withPrefix(address, net.subnet);
      if (!cidr) {
        errors.push({ pointer, detail: `not an address: ${address}` });
        return null;
      }
      if (net.subnet && !inSubnet(cidr, net.subnet)) {
        errors.push({ pointer, detail: `${address} is outside the network's subnet ${net.subnet}` });
        return null;
      }
      return take(cidr, pointer) ? cidr : null;
    };
    const pool = net.subnet ? poolOf(net.subnet) : null;
    const fromPool = (pointer: string): string | null => {
      if (!pool) {
        errors.push({ pointer, detail: 'no address given and the network has no subnet to take one from' });
        return null;
      }
      for (let r = pool.next(); !r.done; r = pool.next()) {
        const ip = r.value.split('/')[0]!;
        if (!taken.has(ip) && !dockerHeld.has(ip)) return (taken.add(ip), r.value);
      }
      errors.push({ pointer, detail: `the subnet ${net.subnet} has no free address left (pool too small)` });
      return null;
    };
    const memberAddress = new Map<number, string | null>();
    const hostAddress = new Map<string, string | null>();
    // Pass 1: given addresses and kept allocations (so new ones never take them).
    net.members.forEach((m, i) => {
      const key = memberKey(network, m);
      if (m.address !== undefined) memberAddress.set(i, given(m.address, `${at}/members/${i}/address`));
      else if (
        prev.memberAddresses[key] &&
        (!net.subnet || inSubnet(prev.memberAddresses[key], net.subnet)) &&
        take(prev.memberAddresses[key], `${at}/members/${i}`)
      ) {
        memberAddress.set(i, prev.memberAddresses[key]);
      }
    });
    for (const hostId of memberHosts) {
      const hn = hostName(hostId);
      if (typeof net.hostAddresses === 'object') {
        const a = net.hostAddresses[hn];
        if (a !== undefined) hostAddress.set(hostId, given(a, `${at}/hostAddresses/${hn}`));
      } else if (net.hostAddresses === 'auto') {
        const kept = prev.hostAddresses[`${network}/${hn}`];
        if (kept && (!net.subnet || inSubnet(kept, net.subnet)) && take(kept, `${at}/hostAddresses`)) hostAddress.set(hostId, kept);
      }
    }
    // Pass 2: the pool, hosts first (they usually take the low addresses), members in document order.
    if (net.hostAddresses === 'auto')
      for (const hostId of memberHosts) if (!hostAddress.has(hostId)) hostAddress.set(hostId, fromPool(`${at}/hostAddresses`));
    net.members.forEach((m, i) => {
      if (!memberAddress.has(i)) memberAddress.set(i, fromPool(`${at}/members/${i}/address`));
    });

    // Tunnels, and their key (unique on every host they touch, across topologies and plain tunnels).
    const pairs = memberHosts.length > 1 ? hostPairs(memberHosts, net.mesh) : [];
    let key: number | null = null;
    if (pairs.length) {
      const hostsOfNet = memberHosts;
      const free = (k: number) => hostsOfNet.every((h) => !usedKeys.get(h)?.has(k));
      key = net.tunnel.key ?? prev.keys[network] ?? null;
      if (key !== null && !free(key)) {
        errors.push({
          pointer: `${at}/tunnel/key`,
          detail: `${net.tunnel.type === 'gre' ? 'GRE key' : 'VNI'} ${key} is already in use on one of the network's hosts`,
        });
      }
      if (key === null) {
        // Start from a value derived from the names: two topologies rarely probe the same numbers.
        const start = 4096 + (parseInt(digest(`${name}/${network}`, 6), 16) % 1_000_000);
        for (let k = start; k < start + 100_000 && key === null; k++) if (free(k)) key = k;
      }
      if (key !== null) {
        alloc.keys[network] = key;
        for (const h of hostsOfNet) (usedKeys.get(h) ?? usedKeys.set(h, new Set()).get(h)!).add(key);
      }
    }

    // Bridges: one per host of the network.
    const bridgeOf = new Map<string, DesiredBridge>();
    for (const hostId of memberHosts) {
      const h = hostsById.get(hostId)!;
      const slot = `bridge:${network}/${h.data.name}`;
      claimName(hostId, bridgeName, net.bridge.name ? `${at}/bridge/name` : `${at}`);
      let datapathType: BridgeData['datapathType'] = null;
      try {
        datapathType = resolveDatapath({ type: net.bridge.type, datapathType: net.bridge.datapathType }, h.data);
      } catch (e) {
        if (e instanceof ProblemError) errors.push({ pointer: `${at}/bridge`, detail: `${h.data.name}: ${e.problem.detail}` });
        else throw e;
      }
      const address = hostAddress.get(hostId);
      if (address) alloc.hostAddresses[`${network}/${h.data.name}`] = address;
      const b: DesiredBridge = {
        slot,
        network,
        id: owned[slot] ?? newId('bridge'),
        data: {
          hostId,
          hostName: h.data.name,
          name: bridgeName,
          type: net.bridge.type,
          datapathType,
          addresses: address ? [address] : [],
          mtu: null,
          stp: net.bridge.stp,
          labels: doc.labels,
          overlayMtu: null,
          adopted: false,
          topology: name,
        },
      };
      bridgeOf.set(hostId, b);
      desired.bridges.push(b);
    }

    // Tunnel data per pair.
    let networkMtu: number | null = null;
    for (const [a, b] of pairs) {
      const ha = hostsById.get(a)!;
      const hb = hostsById.get(b)!;
      const slot = `tunnel:${network}/${ha.data.name}~${hb.data.name}`;
      for (const h of [ha, hb]) {
        if (!h.data.tunnelIp)
          errors.push({
            pointer: `${at}/members`,
            detail: `host ${h.data.name} has no tunnelIp (the underlay address tunnels use); register it with one`,
          });
      }
      if (!ha.data.tunnelIp || !hb.data.tunnelIp) continue;
      if (ipFamily(ha.data.tunnelIp) !== ipFamily(hb.data.tunnelIp)) {
        errors.push({ pointer: `${at}/members`, detail: `${ha.data.name} and ${hb.data.name} have tunnelIps of different families` });
        continue;
      }
      for (const h of [ha, hb]) {
        const gap = kernelGap(net.tunnel.type, bridgeOf.get(h.id)!.data, h.data, ipFamily(ha.data.tunnelIp) === 6);
        if (gap) errors.push({ pointer: `${at}/tunnel/type`, detail: gap });
      }
      const ipv6 = ipFamily(ha.data.tunnelIp) === 6;
      const ends = (
        [
          [ha, hb],
          [hb, ha],
        ] as const
      ).map(([self, other]): TunnelEndpointData => {
        const br = bridgeOf.get(self.id)!;
        const portKey = `${slot}@${self.data.name}`;
        const kept = prev.hostIfnames[portKey];
        const mine = takenNames.get(self.id) ?? new Set<string>();
        const portName =
          kept && kept.startsWith(`${net.tunnel.type}-`) && !namesOn(self.id).has(kept) && !mine.has(kept)
            ? kept
            : defaultPortName(net.tunnel.type, other.data.name, new Set([...namesOn(self.id).keys(), ...mine]));
        claimName(self.id, portName, `${at}/tunnel`);
        alloc.hostIfnames[portKey] = portName;
        return {
          bridgeId: br.id,
          bridgeName: br.data.name,
          bridgeType: br.data.type,
          datapathType: br.data.datapathType,
          hostId: self.id,
          hostName: self.data.name,
          portName,
          localIp: self.data.tunnelIp!,
          remoteIp: other.data.tunnelIp!,
          overlayMtu: overlayMtu(null, net.tunnel.type, { ipv6, key }),
        };
      });
      const data: TunnelData = {
        type: net.tunnel.type,
        key,
        dstPort: net.tunnel.dstPort ?? null,
        endpoints: [ends[0]!, ends[1]!],
        overlayMtu: Math.min(ends[0]!.overlayMtu, ends[1]!.overlayMtu),
        labels: doc.labels,
        splitHorizon: net.mesh === 'full' && memberHosts.length > 2,
        topology: name,
      };
      if (data.dstPort !== null && data.type === 'gre') errors.push({ pointer: `${at}/tunnel/dstPort`, detail: 'GRE has no UDP port' });
      networkMtu = networkMtu === null ? data.overlayMtu : Math.min(networkMtu, data.overlayMtu);
      desired.tunnels.push({ slot, network, id: owned[slot] ?? newId('tunnel'), data });
    }
    for (const b of bridgeOf.values()) b.data.overlayMtu = pairs.length ? networkMtu : null;
    // The MTU budget: nothing bigger than the tunnels carry (it would be dropped or fragmented on the underlay).
    if (networkMtu !== null) {
      if (net.mtu !== undefined && net.mtu > networkMtu)
        errors.push({ pointer: `${at}/mtu`, detail: `${net.mtu} is more than the ${net.tunnel.type} tunnels carry (${networkMtu})` });
      net.members.forEach((m, i) => {
        if (m.mtu !== undefined && m.mtu > networkMtu)
          errors.push({
            pointer: `${at}/members/${i}/mtu`,
            detail: `${m.mtu} is more than the ${net.tunnel.type} tunnels carry (${networkMtu})`,
          });
      });
    }

    // Attachments.
    for (const [i, m] of net.members.entries()) {
      const h = hostsByName.get(m.host);
      const bridge = h && bridgeOf.get(h.id);
      if (!h || !bridge) continue;
      const key = memberKey(network, m);
      const slot = `attachment:${key}`;
      const targetKey = `${m.host}/${m.container ?? `netns:${m.netns}`}`;
      const address = memberAddress.get(i) ?? null;
      if (address) alloc.memberAddresses[key] = address;
      const hostIfname = prev.hostIfnames[key] ?? `np${digest(`${name}/${key}`, 12)}`;
      if (claimName(h.id, hostIfname, `${at}/members/${i}`)) alloc.hostIfnames[key] = hostIfname;
      const n = (ifnameCount.get(targetKey) ?? 0) + 1;
      ifnameCount.set(targetKey, n);
      const ifname = m.ifname ?? prev.ifnames[key] ?? `eth${n}`;
      alloc.ifnames[key] = ifname;
      const mac = m.mac ?? prev.macs[key] ?? derivedMac(name, key);
      alloc.macs[key] = mac;
      if (bridge.data.type !== 'ovs' && m.vlan !== undefined)
        errors.push({ pointer: `${at}/members/${i}/vlan`, detail: 'VLAN tags need an OVS bridge' });
      const facts = h.data.facts;
      if (m.container !== undefined && facts && !facts.docker)
        errors.push({ pointer: `${at}/members/${i}/container`, detail: `${h.data.name} has no reachable Docker engine (last probe)` });
      const data: AttachmentData = {
        ...VETH_STATIC,
        bridgeId: bridge.id,
        bridgeName: bridge.data.name,
        bridgeType: bridge.data.type,
        datapathType: bridge.data.datapathType,
        hostId: h.id,
        hostName: h.data.name,
        target: m.container !== undefined ? { container: m.container } : { netns: m.netns! },
        resolved: null,
        ifname,
        hostIfname,
        addresses: address ? [address] : [],
        gateway: m.gateway ?? null,
        routes: m.routes ?? [],
        mac,
        mtu: m.mtu ?? net.mtu ?? bridge.data.overlayMtu ?? null,
        vlan: m.vlan ?? null,
        txChecksumOffloadOff: false,
        labels: doc.labels,
        container: m.container ?? null,
        assignedMac: null,
        topology: name,
        ...(isImpaired(m.impairment?.toContainer) || isImpaired(m.impairment?.fromContainer)
          ? { impairment: normalizeAttachmentImpairment(m.impairment) }
          : {}),
        ...(m.link === 'down' ? { link: m.link } : {}),
      };
      await impairmentErrors(store, data, m.impairment, `${at}/members/${i}/impairment`, errors);
      desired.attachments.push({ slot, network, member: key, id: owned[slot] ?? newId('attachment'), data });
    }
  }

  const slots = [...desired.bridges, ...desired.tunnels, ...desired.attachments].map((d) => d.slot);
  const dup = slots.find((s, i) => slots.indexOf(s) !== i);
  if (dup) errors.push({ pointer: '/networks', detail: `${dup.replace(/^attachment:/, 'member ')} appears twice` });
  if (errors.length)
    throw ProblemError.validation(
      errors,
      `the topology document has ${errors.length} problem(s): ${errors.map((e) => `${e.pointer}: ${e.detail}`).join('; ')}`,
    );
  return desired;
}

/** The stored data of a topology after an apply. */
export function topologyData(name: string, doc: TopologyDocument, desired: DesiredTopology): TopologyData {
  const owned: Record<string, string> = {};
  for (const d of [...desired.bridges, ...desired.tunnels, ...desired.attachments]) owned[d.slot] = d.id;
  return { name, document: doc, allocations: desired.allocations, owned, hosts: desired.hosts, labels: doc.labels };
}

/** Addresses the Docker plugin leased on a topology network (kept out of the pool, and refused when given). */
async function dockerLeases(store: Store, topology: string, network: string): Promise<Set<string>> {
  const recs = await store.allResources(DOCKER_RECORD.address, { topology, network });
  return new Set(recs.map((r) => String((r.data as { address: unknown }).address)));
}

/** Docker network names other topologies publish (a name is one network on every host that has it). */
async function dockerNamesOfOthers(store: Store, name: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const t of await readAll(store, 'topology')) {
    if (t.data.name === name) continue;
    for (const [n, net] of Object.entries(t.data.document.networks))
      if (net.docker) out.set(net.docker.name, `topology ${t.data.name}'s network ${n}`);
  }
  return out;
}
