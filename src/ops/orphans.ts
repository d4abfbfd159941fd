/**
 * Everything on a host that carries a netplumb mark (OVS external_ids:netplumb-id on bridges and interfaces, Linux
 * `alias netplumb:<id>`), and the steps that remove such objects. Pure: commands out, parsed marks in.
 */
import { ownerFromAlias, ovsRows, parseIpJson } from './links.js';
import { IfName } from '../model/names.js';
import { step, vsctl, type Step } from './plan.js';

export function markedObjectCommands() {
  return {
    bridges: vsctl('--format=json', '--columns=name,external_ids', 'list', 'Bridge'),
    ifaces: vsctl('--format=json', '--columns=name,external_ids', 'list', 'Interface'),
    links: ['ip', '-j', '-d', 'link', 'show'],
  };
}

export interface MarkedObject {
  /** `ovs-bridge`, `ovs-port` (a port and its interface) or `link` (a Linux device: bridge, veth end, tunnel device). */
  kind: 'ovs-bridge' | 'ovs-port' | 'link';
  name: string;
  /** The netplumb id it is marked with. */
  owner: string;
}

type Outs = Record<'bridges' | 'ifaces' | 'links', { exitCode: number; stdout: string }>;

export function parseMarkedObjects(out: Outs): MarkedObject[] {
  const mark = (r: Record<string, unknown>) => ((r.external_ids as Record<string, string> | undefined) ?? {})['netplumb-id'];
  const found: MarkedObject[] = [];
  const ovsBridges = new Set<string>();
  for (const r of ovsRows(out.bridges.exitCode === 0 ? out.bridges.stdout : '')) {
    const owner = mark(r);
    ovsBridges.add(r.name as string);
    if (owner) found.push({ kind: 'ovs-bridge', name: r.name as string, owner });
  }
  const ovsPorts = new Set<string>();
  for (const r of ovsRows(out.ifaces.exitCode === 0 ? out.ifaces.stdout : '')) {
    const owner = mark(r);
    if (owner && !ovsBridges.has(r.name as string)) {
      ovsPorts.add(r.name as string);
      found.push({ kind: 'ovs-port', name: r.name as string, owner });
    }
  }
  for (const l of out.links.exitCode === 0 ? parseIpJson(out.links.stdout) : []) {
    const owner = ownerFromAlias(l.alias);
    if (owner) found.push({ kind: 'link', name: l.name, owner });
  }
  return found;
}

/**
 * Ports first, then devices, then bridges (a bridge takes its ports with it; removing what is gone is fine). The
 * names come from the host, not from a request: any that is not a plain interface name (could read as an option,
 * e.g. `-x`) is left out, and the caller says so.
 */
export function removeOrphansPlan(hostId: string, orphans: readonly MarkedObject[]): Step[] {
  const order = { 'ovs-port': 0, link: 1, 'ovs-bridge': 2 } as const;
  return orphans
    .filter((o) => IfName.safeParse(o.name).success)
    .sort((a, b) => order[a.kind] - order[b.kind])
    .map((o) =>
      o.kind === 'ovs-port'
        ? step(hostId, `remove orphan port ${o.name} (marked ${o.owner})`, vsctl('--if-exists', 'del-port', o.name))
        : o.kind === 'ovs-bridge'
          ? step(hostId, `remove orphan OVS bridge ${o.name} (marked ${o.owner})`, vsctl('--if-exists', 'del-br', o.name))
          : // Gone already when its OVS port or bridge took it: exit 1 then is fine.
            step(hostId, `remove orphan device ${o.name} (marked ${o.owner})`, ['ip', 'link', 'del', 'dev', o.name], {
              okExitCodes: [0, 1],
            }),
    );
}
