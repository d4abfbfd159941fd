/**
 * From a POST /tunnels body to the TunnelData a job can run: every reference resolved and every check made
 * here, before a job or a plan exists (422 for bad fields, 404 for missing bridges, 409 for clashes).
 */
import { mustRead, readAll, readResource } from '../jobs/records.js';
import { bridgeRef, type BridgeData } from '../model/bridges.js';
import type { HostData } from '../model/hosts.js';
import { ProblemError, type FieldError } from '../model/problems.js';
import {
  defaultPortName,
  effectiveDstPort,
  type TunnelCreate,
  type TunnelData,
  type TunnelEndpointData,
  type TunnelType,
} from '../model/tunnels.js';
import { ipFamily } from '../model/net.js';
import { overlayMtu } from '../ops/tunnels.js';
import type { Store } from '../store/types.js';
import type { TypedResource } from './kind.js';
import { interfaceNamesOnHost as namesOnHost, requireBridge, requireHostAvailable } from './refs.js';

const tunnelsOf = async (store: Store) => (await readAll(store, 'tunnel')).map((t) => ({ id: t.id, state: t.state, d: t.data }));

/**
 * What the host's kernel must offer for this end (from its last probe); null when fine or not known.
 * Over an IPv6 underlay a Linux-bridge GRE end is an ip6gretap device (module ip6_gre, apart from gre): the probe's
 * `linkTypes.ip6gretap` says whether one can be made. VXLAN over IPv6 is the same vxlan device.
 */
export function kernelGap(type: TunnelType, b: Pick<BridgeData, 'type' | 'datapathType'>, h: HostData, ipv6 = false): string | null {
  const mods = h.facts?.kernelModules;
  const needsKernel = b.type === 'linux' || b.datapathType === 'system';
  if (!needsKernel) return null; // the userspace datapath implements GRE, VXLAN and Geneve itself
  if (type === 'gre' && ipv6 && b.type === 'linux' && h.facts?.linkTypes && !h.facts.linkTypes.ip6gretap)
    return `${h.name}'s kernel has no IPv6 GRE support (no ip6gretap device type at its last probe: module ip6_gre), so a Linux bridge there cannot have an ip6gretap port for a GRE tunnel over IPv6; use vxlan, or an OVS bridge with the netdev (userspace) datapath, which does GRE over IPv6 itself`;
  if (!mods) return null;
  const where =
    b.type === 'linux'
      ? `a Linux bridge there cannot have a ${type === 'gre' ? (ipv6 ? 'ip6gretap' : 'gretap') : type} port`
      : `its OVS kernel datapath cannot carry ${type}`;
  if (type === 'gre' && !mods.gre)
    return `${h.name}'s kernel has no GRE support (no gre module at its last probe), so ${where}; use vxlan, or an OVS bridge with the netdev (userspace) datapath, which does GRE itself`;
  if (type === 'vxlan' && !mods.vxlan)
    return `${h.name}'s kernel has no VXLAN support (no vxlan module at its last probe), so ${where}; use an OVS bridge with the netdev (userspace) datapath`;
  return null;
}

/** Are bridges a and b already joined through tunnels? Returns the bridges on the path, or null. */
function pathBetween(tunnels: { d: TunnelData }[], a: string, b: string): string[] | null {
  const next = new Map<string, string[]>();
  for (const t of tunnels) {
    const [x, y] = [t.d.endpoints[0].bridgeId, t.d.endpoints[1].bridgeId];
    next.set(x, [...(next.get(x) ?? []), y]);
    next.set(y, [...(next.get(y) ?? []), x]);
  }
  const parent = new Map<string, string>([[a, a]]);
  const queue = [a];
  while (queue.length) {
    const cur = queue.shift()!;
    if (cur === b) {
      const path = [b];
      while (path[0] !== a) path.unshift(parent.get(path[0]!)!);
      return path;
    }
    for (const n of next.get(cur) ?? [])
      if (!parent.has(n)) {
        parent.set(n, cur);
        queue.push(n);
      }
  }
  return null;
}

export async function resolveTunnel(store: Store, body: TunnelCreate): Promise<TunnelData> {
  const brs: [TypedResource<'bridge'>, TypedResource<'bridge'>] = [
    await requireBridge(store, body.endpoints[0]!.bridge, '/endpoints/0/bridge'),
    await requireBridge(store, body.endpoints[1]!.bridge, '/endpoints/1/bridge'),
  ];
  const bd: [BridgeData, BridgeData] = [brs[0].data, brs[1].data];
  brs.forEach((b, i) => {
    if (b.data.topology) {
      throw new ProblemError(
        'conflict',
        `bridge ${bd[i]!.hostName}/${bd[i]!.name} belongs to topology ${JSON.stringify(b.data.topology)}; its tunnels come from the topology's document`,
        { errors: [{ pointer: `/endpoints/${i}/bridge`, detail: 'owned by a topology' }] },
      );
    }
    if (b.state !== 'ready') {
      throw new ProblemError('conflict', `bridge ${bd[i]!.hostName}/${bd[i]!.name} is ${b.state}; wait for its job ${b.jobId}`, {
        errors: [{ pointer: `/endpoints/${i}/bridge`, detail: b.state }],
      });
    }
  });
  if (bd[0].hostId === bd[1].hostId) {
    throw ProblemError.validation([
      {
        pointer: '/endpoints/1/bridge',
        detail: `on the same host (${bd[0].hostName}) as endpoint 0: a tunnel joins bridges on two different hosts`,
      },
    ]);
  }
  const hosts = [await mustRead(store, 'host', bd[0].hostId), await mustRead(store, 'host', bd[1].hostId)] as const;
  hosts.forEach(requireHostAvailable);
  const hd: [HostData, HostData] = [hosts[0].data, hosts[1].data];

  const errors: FieldError[] = [];
  hd.forEach((h, i) => {
    if (!h.tunnelIp)
      errors.push({
        pointer: `/endpoints/${i}/bridge`,
        detail: `host ${h.name} has no tunnelIp (the underlay address the other end sends to); register the host with one`,
      });
  });
  if (hd[0].tunnelIp && hd[1].tunnelIp && ipFamily(hd[0].tunnelIp) !== ipFamily(hd[1].tunnelIp)) {
    errors.push({
      pointer: '/endpoints/1/bridge',
      detail: `host ${hd[1].name}'s tunnelIp ${hd[1].tunnelIp} is IPv${ipFamily(hd[1].tunnelIp)}, ${hd[0].name}'s ${hd[0].tunnelIp} is IPv${ipFamily(hd[0].tunnelIp)}: both ends need the same family`,
    });
  }
  bd.forEach((b, i) => {
    const gap = kernelGap(body.type, b, hd[i]!, ipFamily(hd[0].tunnelIp ?? '') === 6);
    if (gap) errors.push({ pointer: `/endpoints/${i}/bridge`, detail: gap });
  });
  if (errors.length) throw ProblemError.validation(errors);

  const usedOn = [await namesOnHost(store, bd[0].hostId), await namesOnHost(store, bd[1].hostId)];
  const portNames = [0, 1].map((i) => {
    const used = usedOn[i]!;
    const given = body.endpoints[i]!.portName;
    if (given === undefined) return defaultPortName(body.type, hd[1 - i]!.name, new Set(used.keys()));
    const by = used.get(given);
    if (by) {
      throw new ProblemError(
        'conflict',
        `${given} is already used on ${hd[i]!.name} by ${by}; choose another portName (or leave it out for a free default)`,
        {
          errors: [{ pointer: `/endpoints/${i}/portName`, detail: `in use on ${hd[i]!.name}` }],
          existing: by,
        },
      );
    }
    return given;
  });

  const key = body.key ?? null;
  const dstPort = body.dstPort ?? null;
  const ipv6 = ipFamily(hd[0].tunnelIp!) === 6;
  const end = (i: 0 | 1): TunnelEndpointData => ({
    ...bridgeRef(brs[i]),
    portName: portNames[i]!,
    localIp: hd[i].tunnelIp!,
    remoteIp: hd[1 - i]!.tunnelIp!,
    overlayMtu: overlayMtu(bd[i].mtu, body.type, { ipv6, key }),
  });
  const endpoints: [TunnelEndpointData, TunnelEndpointData] = [end(0), end(1)];
  const d: TunnelData = {
    type: body.type,
    key,
    dstPort,
    endpoints,
    overlayMtu: Math.min(endpoints[0].overlayMtu, endpoints[1].overlayMtu),
    labels: body.labels,
  };

  const existing = (await tunnelsOf(store)).filter((t) => t.state !== 'failed');
  // A second path between two bridges is an L2 loop: broadcasts would circle forever unless STP cuts it.
  const path = pathBetween(existing, endpoints[0].bridgeId, endpoints[1].bridgeId);
  if (path) {
    const onPath = (await Promise.all(path.map((id) => readResource(store, 'bridge', id)))).filter((r) => r !== null).map((r) => r.data);
    if (!onPath.every((b) => b.stp)) {
      throw new ProblemError(
        'conflict',
        `${onPath.map((b) => `${b.hostName}/${b.name}`).join(' – ')} are already joined by tunnels; another tunnel would close an L2 loop. Enable STP on these bridges (PATCH /bridges/{id} {"stp": true}) to allow it`,
        {
          errors: [{ pointer: '/endpoints/1/bridge', detail: 'already joined to endpoint 0 through tunnels' }],
        },
      );
    }
  }
  // Two tunnels a host cannot tell apart: OVS matches incoming packets on (type, remote, key, port); the kernel allows
  // one VXLAN device per VNI and UDP port.
  const vni = (t: TunnelData) => t.key ?? 0;
  for (const t of existing) {
    for (const mine of endpoints) {
      for (const theirs of t.d.endpoints) {
        if (theirs.hostId !== mine.hostId || t.d.type !== d.type || vni(t.d) !== vni(d) || effectiveDstPort(t.d) !== effectiveDstPort(d))
          continue;
        const sameRemote = theirs.remoteIp === mine.remoteIp;
        const kernelVni = d.type === 'vxlan' && theirs.bridgeType === 'linux' && mine.bridgeType === 'linux';
        if (sameRemote || kernelVni) {
          throw new ProblemError(
            'conflict',
            `${t.id} already is a ${d.type} tunnel ${sameRemote ? `to ${mine.remoteIp} ` : ''}on ${mine.hostName} with ${d.type === 'gre' ? 'GRE key' : 'VNI'} ${vni(d)}: choose another key`,
            {
              errors: [{ pointer: '/key', detail: `in use on ${mine.hostName} by ${t.id}` }],
              existing: t.id,
            },
          );
        }
      }
    }
  }
  return d;
}
