/**
 * What an attachment looks like on its host: the host end (marked, on its bridge, VLAN, carrier), the inner end in the
 * target's namespace (paired with the host end, addresses, MAC, MTU, routes), and its drift from the record. Pure:
 * commands out, parsed facts in.
 */
import type { AttachmentData } from '../model/attachments.js';
import { inAnySubnet, ipFamily } from '../model/net.js';
import { diffFields, type DriftItem } from '../model/resource.js';
import { inNs, ruleSpec, ruleText } from './attachments.js';
import { ownerFromAlias, ovsRows } from './links.js';
import { vsctl } from './plan.js';

/** Read-only commands: the host end always, the inside when the target's namespace is known. */
export function attachmentObserveCommands(d: AttachmentData, ifname: string | null, nsPath: string | null): Record<string, string[]> {
  const c: Record<string, string[]> = { hostEnd: ['ip', '-j', '-d', 'addr', 'show', 'dev', d.hostIfname] };
  if (d.bridgeType === 'ovs') {
    c.port = vsctl('--format=json', '--columns=name,tag,external_ids', 'find', 'Port', `name=${d.hostIfname}`);
    c.iface = vsctl('--format=json', '--columns=name,external_ids,error,ofport,link_state', 'find', 'Interface', `name=${d.hostIfname}`);
    c.portBridge = vsctl('port-to-br', d.hostIfname);
  }
  if (nsPath && ifname) Object.assign(c, insideObserveCommands(d, ifname, nsPath));
  return c;
}

/** The inside of any attachment type: the interface, its routes (main and every table it has routes in), the rules. */
export function insideObserveCommands(d: AttachmentData, ifname: string, nsPath: string): Record<string, string[]> {
  const c: Record<string, string[]> = {};
  c.inside = inNs(nsPath, ['ip', '-j', '-d', 'addr', 'show', 'dev', ifname]);
  c.routes4 = inNs(nsPath, ['ip', '-j', '-4', 'route', 'show', 'dev', ifname]);
  if ([d.gateway, ...d.routes.map((r) => r.to)].some((a) => a && ipFamily(a) === 6))
    c.routes6 = inNs(nsPath, ['ip', '-j', '-6', 'route', 'show', 'dev', ifname]);
  for (const r of d.routes) {
    if (r.table === undefined || r.table === 'main') continue;
    const fam = ipFamily(r.to) === 6 ? '-6' : '-4';
    c[`routes:${fam}:${r.table}`] = inNs(nsPath, ['ip', '-j', fam, 'route', 'show', 'table', String(r.table), 'dev', ifname]);
  }
  if (d.rules.length) {
    c.rules4 = inNs(nsPath, ['ip', '-j', '-4', 'rule', 'show']);
    if (d.rules.some((r) => ruleSpec(r)[0] === '-6')) c.rules6 = inNs(nsPath, ['ip', '-j', '-6', 'rule', 'show']);
  }
  return c;
}

interface RawLink {
  ifindex?: number;
  link_index?: number;
  ifname: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  ifalias?: string;
  master?: string;
  operstate?: string;
  addr_info?: { local: string; prefixlen: number; scope?: string; dynamic?: boolean }[];
}

function linkNamed(out: { exitCode: number; stdout: string } | undefined, name: string | null): RawLink | null {
  if (!out || out.exitCode !== 0 || !name) return null;
  try {
    const a = JSON.parse(out.stdout || '[]') as RawLink[];
    return (Array.isArray(a) && a.find((l) => l.ifname === name)) || null;
  } catch {
    return null;
  }
}

export interface ObservedAttachmentEnds {
  hostEnd: {
    exists: boolean;
    owner: string | null;
    /** The bridge it is a port of (OVS port-to-br, or the Linux master). */
    bridge: string | null;
    up: boolean | null;
    /** Operational state: `up` when the other end is up too (carrier). */
    operstate: string | null;
    mtu: number | null;
    vlan: number | null;
    /** OVS's error for the interface (e.g. the device is gone). */
    error: string | null;
  };
  inside: {
    exists: boolean;
    /** The inner end is the host end's veth peer (the pair is whole, in this namespace). */
    paired: boolean;
    up: boolean | null;
    mtu: number | null;
    mac: string | null;
    addresses: string[];
    routes: string[];
    /** The target's policy rules, in the words ruleText uses (read only when the attachment has rules). */
    rules: string[];
  };
}

/** A route as `ip -j route` prints it, in the words desiredRoutes uses. */
function routeWords(r: { dst?: string; gateway?: string }): string {
  return `${routeTo(r.dst ?? '?')}${r.gateway ? ` via ${r.gateway}` : ''}`;
}

/**
 * A destination in one spelling on both sides: `ip -j route` prints `default` and host routes without their prefix
 * length, a request has `0.0.0.0/0` and `10.0.0.5/32`.
 */
export function routeTo(to: string): string {
  if (to === '0.0.0.0/0' || to === '::/0' || to === 'default') return 'default';
  if (to === '?' || to.includes('/')) return to;
  return `${to}/${to.includes(':') ? 128 : 32}`;
}

export function parseAttachmentObservation(
  d: AttachmentData,
  out: Record<string, { exitCode: number; stdout: string }>,
): ObservedAttachmentEnds {
  const h = linkNamed(out.hostEnd, d.hostIfname);
  let bridge: string | null = h?.master ?? null;
  let owner = ownerFromAlias(h?.ifalias ?? null);
  let vlan: number | null = null;
  let error: string | null = null;
  if (d.bridgeType === 'ovs') {
    bridge = out.portBridge?.exitCode === 0 ? out.portBridge.stdout.trim() || null : null;
    const port = ovsRows(out.port?.exitCode === 0 ? out.port.stdout : '')[0];
    const iface = ovsRows(out.iface?.exitCode === 0 ? out.iface.stdout : '')[0];
    const tag = Array.isArray(port?.tag) ? (port.tag as unknown[])[0] : port?.tag;
    vlan = typeof tag === 'number' ? tag : null;
    const e = Array.isArray(iface?.error) ? (iface.error as unknown[])[0] : iface?.error;
    error = typeof e === 'string' ? e : null;
    // The interface row carries the mark on OVS; the alias on the device is the same id.
    owner = ((iface?.external_ids as Record<string, string> | undefined) ?? {})['netplumb-id'] ?? owner;
  }
  const i = linkNamed(out.inside, d.ifname);
  const routes = Object.entries(out).flatMap(([key, o]) => {
    if (!(key === 'routes4' || key === 'routes6' || key.startsWith('routes:')) || o.exitCode !== 0) return [];
    const table = key.startsWith('routes:') ? key.split(':')[2] : undefined;
    try {
      return (JSON.parse(o.stdout || '[]') as { dst?: string; gateway?: string }[]).map(
        (r) => routeWords(r) + (table !== undefined ? ` table ${table}` : ''),
      );
    } catch {
      return [];
    }
  });
  const rules = [out.rules4, out.rules6].flatMap((o) => {
    if (!o || o.exitCode !== 0) return [];
    try {
      return (JSON.parse(o.stdout || '[]') as RawRule[]).map(observedRuleText);
    } catch {
      return [];
    }
  });
  return {
    hostEnd: {
      exists: !!h,
      owner,
      bridge,
      up: h ? (h.flags ?? []).includes('UP') : null,
      operstate: h?.operstate?.toLowerCase() ?? null,
      mtu: h?.mtu ?? null,
      vlan,
      error,
    },
    inside: {
      exists: !!i,
      paired: !!i && !!h && i.link_index === h.ifindex,
      up: i ? (i.flags ?? []).includes('UP') : null,
      mtu: i?.mtu ?? null,
      mac: i?.address ?? null,
      // Not link-local, and not what the kernel configured itself from a router advertisement (SLAAC: `dynamic`,
      // on a macvlan or phys NIC on a LAN with a router): neither is ours to keep or remove.
      addresses: (i?.addr_info ?? [])
        .filter((a) => a.scope !== 'link' && a.scope !== 'host' && a.dynamic !== true)
        .map((a) => `${a.local}/${a.prefixlen}`),
      routes,
      rules,
    },
  };
}

interface RawRule {
  priority?: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  fwmark?: string;
  table?: string;
}

/** A rule as `ip -j rule show` prints it, in ruleText's words (with its priority). */
function observedRuleText(r: RawRule): string {
  const prefix = (a: string | undefined, len: number | undefined) =>
    a === undefined || a === 'all' ? undefined : `${a}/${len ?? (ipFamily(a) === 6 ? 128 : 32)}`;
  return ruleText({
    priority: r.priority,
    from: prefix(r.src, r.srclen),
    to: prefix(r.dst, r.dstlen),
    fwmark: r.fwmark !== undefined ? Number(r.fwmark) : undefined,
    table: r.table ?? 'main',
  });
}

/** The rules the target has of those the attachment wants (a rule without a priority matches at any priority). */
export function presentRules(d: AttachmentData, observed: readonly string[]): string[] {
  const withoutPriority = (t: string) => t.replace(/^priority \d+ /, '');
  return d.rules
    .map(ruleText)
    .filter((want) => observed.some((o) => o === want || (!want.startsWith('priority ') && withoutPriority(o) === want)));
}

/** The routes the attachment puts in the target, in `ip route` words (a gateway outside the subnets gets a host route). */
export function desiredRoutes(d: AttachmentData): string[] {
  const r: string[] = [];
  if (d.gateway) {
    if (!inAnySubnet(d.gateway, d.addresses)) r.push(routeTo(d.gateway));
    r.push(`default via ${d.gateway}`);
  }
  for (const x of d.routes)
    r.push(`${routeTo(x.to)}${x.via ? ` via ${x.via}` : ''}${x.table !== undefined && x.table !== 'main' ? ` table ${x.table}` : ''}`);
  return r;
}

/**
 * Drift of an attachment whose target is running. `mac` is the MAC the attachment should have (requested, or the one
 * it was made with).
 */
export function attachmentDrift(id: string, d: AttachmentData, o: ObservedAttachmentEnds, mac: string | null): DriftItem[] {
  const drift: DriftItem[] = [];
  if (!o.hostEnd.exists) drift.push({ field: 'hostEnd', desired: d.hostIfname, actual: null });
  if (!o.inside.exists) drift.push({ field: 'inside', desired: d.ifname, actual: null });
  else if (o.hostEnd.exists && !o.inside.paired) drift.push({ field: 'paired', desired: true, actual: false });
  drift.push(
    ...diffFields([
      { field: 'owner', desired: id, actual: o.hostEnd.owner, skip: !o.hostEnd.exists },
      { field: 'bridge', desired: d.bridgeName, actual: o.hostEnd.bridge },
      { field: 'vlan', desired: d.vlan, actual: o.hostEnd.vlan, skip: d.bridgeType !== 'ovs' },
      // A pulled cable (link: down, issue 17) is the host end down on purpose: its drift is the `link` field's.
      { field: 'hostEnd.up', desired: true, actual: o.hostEnd.up, skip: !o.hostEnd.exists || d.link === 'down' },
      { field: 'carrier', desired: 'up', actual: o.hostEnd.operstate, skip: !o.hostEnd.exists || !o.inside.exists || d.link === 'down' },
      { field: 'portError', desired: null, actual: o.hostEnd.error, skip: !o.hostEnd.exists },
      { field: 'hostEnd.mtu', desired: d.mtu, actual: o.hostEnd.mtu, skip: d.mtu === null || !o.hostEnd.exists },
    ]),
    ...insideDrift(d, o.inside, mac),
  );
  return drift;
}

/**
 * Drift of the interface inside the target, whatever made it (every attachment type): up, addresses, MTU, MAC, routes
 * and rules. Nothing when it is missing (that is the caller's `inside` item).
 */
export function insideDrift(d: AttachmentData, inside: ObservedAttachmentEnds['inside'], mac: string | null): DriftItem[] {
  const want = desiredRoutes(d);
  return diffFields([
    { field: 'up', desired: true, actual: inside.up },
    { field: 'addresses', desired: d.addresses, actual: inside.addresses, unordered: true },
    { field: 'mtu', desired: d.mtu, actual: inside.mtu, skip: d.mtu === null },
    { field: 'mac', desired: mac, actual: inside.mac, skip: mac === null },
    { field: 'routes', desired: want, actual: want.filter((r) => inside.routes.includes(r)), unordered: true },
    { field: 'rules', desired: d.rules.map(ruleText), actual: presentRules(d, inside.rules), unordered: true },
  ]).filter(() => inside.exists);
}
