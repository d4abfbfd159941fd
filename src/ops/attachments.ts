/** Attachment plans: pipework's job as argv steps, each undoable. */
import { createHash } from 'node:crypto';
import type { AttachmentData } from '../model/attachments.js';
import { inAnySubnet, ipFamily } from '../model/net.js';
import { type Plan, type Step, step, vsctl } from './plan.js';
import { parseIpJson } from './links.js';

/** The namespace path a target resolves to. */
export function netnsPath(t: { netns?: string; pid?: number }): string {
  return t.netns ? `/run/netns/${t.netns}` : `/proc/${t.pid}/ns/net`;
}

/** argv run inside the target's network namespace. */
export function inNs(nsPath: string, argv: string[]): string[] {
  return ['nsenter', `--net=${nsPath}`, ...argv];
}

/** Read-only commands the job runs before planning. */
export function attachmentFactCommands(nsPath: string, hostIfname: string) {
  return {
    /** Inode of the host's own network namespace, then the target's: equal means the target is the host itself. */
    nsInodes: ['stat', '-L', '-c', '%i', '/proc/self/ns/net', nsPath],
    innerLinks: inNs(nsPath, ['ip', '-j', 'link', 'show']),
    hostLink: ['ip', '-j', '-d', 'link', 'show', 'dev', hostIfname],
  };
}

export function linkNames(stdout: string): string[] {
  return parseIpJson(stdout).map((l) => l.name);
}

/** eth1 when free, else the next free ethN. */
export function pickIfname(existing: readonly string[]): string {
  for (let n = 1; ; n++) if (!existing.includes(`eth${n}`)) return `eth${n}`;
}

export interface AttachPlanInput {
  id: string;
  d: AttachmentData;
  ifname: string;
  nsPath: string;
  /** `ip link add ... netns <ref>`: a pid or a named namespace. */
  nsRef: string;
}

/**
 * `ip -batch -` input: one ip command a line. Every word is a validated name, number, address or MAC (no spaces,
 * quotes or `#`), so a line splits back into exactly these words.
 */
export function ipBatch(lines: string[][]): string {
  for (const words of lines) {
    if (words.some((w) => w === '' || /[\s"'\\#]/.test(w)))
      throw new TypeError(`ipBatch: a word ip -batch cannot carry: ${JSON.stringify(words)}`);
  }
  return lines.map((words) => words.join(' ')).join('\n') + '\n';
}

/**
 * Order: the veth (peer made directly inside the target, marked and up: one `ip -batch`), the host end on the bridge,
 * then the inside (addresses and up: one `ip -batch` through one nsenter), offload, gateway, routes. Deleting the host
 * end removes both ends (and a Linux bridge port), so it is the undo. Native batching keeps a host attachment to
 * about four commands; the result and the undo are those of the one-command-per-change plan.
 */
export function attachPlan({ id, d, ifname, nsPath, nsRef }: AttachPlanInput): Plan {
  const h = d.hostId;
  const hostEnd = d.hostIfname;
  const s: Step[] = [];
  const mtu = d.mtu !== null ? ['mtu', String(d.mtu)] : [];
  const peer = ['peer', 'name', ifname, ...mtu, ...(d.mac ? ['address', d.mac] : []), 'netns', nsRef];
  const hostLines = [
    ['link', 'add', 'dev', hostEnd, ...mtu, 'type', 'veth', ...peer],
    ['link', 'set', 'dev', hostEnd, 'alias', `netplumb:${id}`],
    ...(d.bridgeType === 'linux' ? [['link', 'set', 'dev', hostEnd, 'master', d.bridgeName]] : []),
    ['link', 'set', 'dev', hostEnd, 'up'],
  ];
  const into = d.bridgeType === 'linux' ? `, in Linux bridge ${d.bridgeName}` : '';
  s.push(
    step(h, `veth ${hostEnd} ⇄ ${ifname} in the target, marked${into}, up`, ['ip', '-batch', '-'], {
      stdin: ipBatch(hostLines),
      undo: ['ip', 'link', 'del', 'dev', hostEnd],
      merge: 'ip-batch',
    }),
  );
  if (d.bridgeType === 'ovs') {
    const tx = vsctl('--may-exist', 'add-port', d.bridgeName, hostEnd, '--', 'set', 'Interface', hostEnd, `external_ids:netplumb-id=${id}`);
    tx.push('--', 'set', 'Port', hostEnd, ...(d.vlan !== null ? [`tag=${d.vlan}`] : ['tag=[]']));
    s.push(
      step(h, `port ${hostEnd} on OVS bridge ${d.bridgeName}${d.vlan !== null ? ` (VLAN ${d.vlan})` : ''}`, tx, {
        undo: vsctl('--if-exists', 'del-port', d.bridgeName, hostEnd),
        merge: 'ovs-vsctl',
      }),
    );
  }
  // The userspace datapath does not fill in checksums the veth left to "hardware": TCP breaks without this.
  const offload =
    d.datapathType === 'netdev'
      ? [step(h, `tx checksum offload off on ${ifname} (netdev datapath)`, inNs(nsPath, ['ethtool', '-K', ifname, 'tx', 'off']))]
      : [];
  s.push(...insideSteps({ d, ifname, nsPath, afterUp: offload }));
  return { steps: s };
}

/** What the interface inside needs once it is there, whatever made it: addresses, up, gateway, routes, rules. */
export function insideSteps({
  d,
  ifname,
  nsPath,
  afterUp = [],
  firstLines = [],
}: {
  d: InsideConfig;
  ifname: string;
  nsPath: string;
  /** Steps between the interface coming up and its routes (the netdev datapath's offload switch). */
  afterUp?: Step[];
  /** `ip -batch` lines inside before the addresses (the NIC types' mark). */
  firstLines?: string[][];
}): Step[] {
  const h = d.hostId;
  const s: Step[] = [];
  if (needsIpv6(d)) s.push(enableIpv6Step(h, ifname, nsPath));
  const insideLines = [...firstLines, ...d.addresses.map((a) => addrReplace(a, ifname)), ['link', 'set', 'dev', ifname, 'up']];
  s.push(
    step(h, `${d.addresses.length ? `${d.addresses.join(', ')} on ` : ''}${ifname}, up`, inNs(nsPath, ['ip', '-batch', '-']), {
      stdin: ipBatch(insideLines),
    }),
    ...afterUp,
  );
  if (d.gateway) {
    const fam = ipFamily(d.gateway) === 6 ? '-6' : '-4';
    if (!inAnySubnet(d.gateway, d.addresses)) {
      // As pipework does: a gateway outside our subnets is reached through a host route on this interface.
      s.push(
        step(
          h,
          `host route to gateway ${d.gateway}`,
          inNs(nsPath, ['ip', fam, 'route', 'replace', `${d.gateway}/${fam === '-6' ? 128 : 32}`, 'dev', ifname]),
        ),
      );
    }
    s.push(
      step(
        h,
        `default route via ${d.gateway} dev ${ifname}`,
        inNs(nsPath, ['ip', fam, 'route', 'replace', 'default', 'via', d.gateway, 'dev', ifname]),
      ),
    );
  }
  for (const r of d.routes)
    s.push(step(h, `route ${routeText(r)}`, inNs(nsPath, routeReplaceArgv(r, ifname)), { undo: inNs(nsPath, routeDelArgv(r, ifname)) }));
  for (const r of d.rules) s.push(ruleStep(h, r, nsPath));
  return s;
}

/** What insideSteps reads of an attachment. */
export interface InsideConfig {
  hostId: string;
  addresses: readonly string[];
  gateway: string | null;
  routes: readonly StoredRoute[];
  rules: readonly StoredRule[];
}
export type StoredRoute = AttachmentData['routes'][number];
export type StoredRule = AttachmentData['rules'][number];

/** Docker starts containers with IPv6 off (net.ipv6.conf.all/default.disable_ipv6=1): an IPv6 address needs it on. */
export function needsIpv6(d: { addresses: readonly string[]; gateway: string | null; routes: readonly StoredRoute[] }): boolean {
  return (
    d.addresses.some((a) => ipFamily(a) === 6) ||
    (d.gateway !== null && ipFamily(d.gateway) === 6) ||
    d.routes.some((r) => ipFamily(r.to) === 6)
  );
}

/**
 * IPv6 on for this one interface (the target's other interfaces stay as they were). Written to /proc/sys/net, which
 * shows the namespace of whoever opens it: no sysctl binary needed on the host.
 */
export function enableIpv6Step(host: string, ifname: string, nsPath: string): Step {
  return step(
    host,
    `IPv6 on for ${ifname} (Docker turns it off in containers)`,
    inNs(nsPath, ['sh', '-c', 'echo 0 > "/proc/sys/net/ipv6/conf/$1/disable_ipv6"', 'netplumb-ipv6-on', ifname]),
  );
}

/** IPv6 addresses skip duplicate address detection (as Docker does): usable when the job answers, not a second later. */
export function addrReplace(cidr: string, ifname: string): string[] {
  return ['addr', 'replace', cidr, 'dev', ifname, ...(ipFamily(cidr) === 6 ? ['nodad'] : [])];
}

const famFlag = (addr: string) => (ipFamily(addr) === 6 ? '-6' : '-4');
const tableArgs = (r: { table?: number | string | undefined }) => (r.table !== undefined ? ['table', String(r.table)] : []);

export function routeText(r: StoredRoute): string {
  return `${r.to}${r.via ? ` via ${r.via}` : ''}${r.table !== undefined ? ` table ${r.table}` : ''}`;
}

export function routeReplaceArgv(r: StoredRoute, ifname: string): string[] {
  return ['ip', famFlag(r.to), 'route', 'replace', r.to, ...(r.via ? ['via', r.via] : []), 'dev', ifname, ...tableArgs(r)];
}

export function routeDelArgv(r: StoredRoute, ifname: string): string[] {
  return ['ip', famFlag(r.to), 'route', 'del', r.to, 'dev', ifname, ...tableArgs(r)];
}

/** `ip rule` selector words for a rule (family from its prefixes; IPv4 when it has none). */
export function ruleSpec(r: StoredRule): string[] {
  const fam = r.from ? famFlag(r.from) : r.to ? famFlag(r.to) : '-4';
  return [
    fam,
    ...(r.priority !== undefined ? ['priority', String(r.priority)] : []),
    'from',
    r.from ?? 'all',
    ...(r.to ? ['to', r.to] : []),
    ...(r.fwmark !== undefined ? ['fwmark', String(r.fwmark)] : []),
    'table',
    String(r.table),
  ];
}

export function ruleText(r: StoredRule): string {
  return ruleSpec(r).slice(1).join(' ');
}

/** `ip rule add` is not idempotent: every copy of the rule goes first, then one is added (a re-run converges). */
export function ruleStep(host: string, r: StoredRule, nsPath: string): Step {
  const spec = ruleSpec(r);
  return step(
    host,
    `rule ${ruleText(r)}`,
    inNs(nsPath, [
      'sh',
      '-c',
      'f=$1; shift; while ip "$f" rule del "$@" 2>/dev/null; do :; done; exec ip "$f" rule add "$@"',
      'netplumb-rule',
      ...spec,
    ]),
    { undo: ruleDelStep(host, r, nsPath).argv },
  );
}

export function ruleDelStep(host: string, r: StoredRule, nsPath: string): Step {
  return step(
    host,
    `remove rule ${ruleText(r)}`,
    inNs(nsPath, ['ip', ...ruleSpec(r).slice(0, 1), 'rule', 'del', ...ruleSpec(r).slice(1)]),
    {
      okExitCodes: [0, 2],
    },
  );
}

/** Announce the new addresses; run in the background, never awaited. */
export function gratuitousArp(d: AttachmentData, ifname: string, nsPath: string): string[][] {
  return (
    d.addresses
      .filter((a) => ipFamily(a) === 4)
      // -U (unsolicited) means the same to iputils' and Habets' arping; the packet leaves at once, and timeout ends
      // the wait for replies that never come (about a second otherwise, holding a channel).
      .map((a) => inNs(nsPath, ['timeout', '0.2', 'arping', '-q', '-U', '-c', '1', '-I', ifname, a.split('/')[0]!]))
  );
}

/** Delete: the OVS port, then the host end (which takes the inside end with it). */
export function detachPlan(d: AttachmentData, hostEndExists: boolean): Plan {
  const s: Step[] = [];
  if (d.bridgeType === 'ovs')
    s.push(
      step(d.hostId, `remove port ${d.hostIfname} from ${d.bridgeName}`, vsctl('--if-exists', 'del-port', d.bridgeName, d.hostIfname), {
        merge: 'ovs-vsctl',
      }),
    );
  if (hostEndExists) s.push(step(d.hostId, `delete veth ${d.hostIfname}`, ['ip', 'link', 'del', 'dev', d.hostIfname], { merge: 'ip-del' }));
  return { steps: s };
}

/**
 * Change an attachment in place (no re-attach): addresses, gateway, routes, MTU, MAC and VLAN. Each step's undo
 * puts back what `previous` had. The interface names, bridge and target are not changed here (that is a re-attach).
 */
export function updateAttachmentPlan(previous: AttachmentData, next: AttachmentData, nsPath: string): Plan {
  const h = next.hostId;
  const ifname = next.ifname ?? previous.ifname ?? 'eth1';
  const hostEnd = next.hostIfname;
  const s: Step[] = [];
  const inside = (argv: string[]) => inNs(nsPath, argv);
  if (next.mtu !== previous.mtu && next.mtu !== null) {
    const back = previous.mtu ?? 1500;
    s.push(
      step(h, `MTU ${next.mtu} on ${hostEnd}`, ['ip', 'link', 'set', 'dev', hostEnd, 'mtu', String(next.mtu)], {
        undo: ['ip', 'link', 'set', 'dev', hostEnd, 'mtu', String(back)],
      }),
    );
    s.push(
      step(h, `MTU ${next.mtu} on ${ifname}`, inside(['ip', 'link', 'set', 'dev', ifname, 'mtu', String(next.mtu)]), {
        undo: inside(['ip', 'link', 'set', 'dev', ifname, 'mtu', String(back)]),
      }),
    );
  }
  if (next.mac !== previous.mac && next.mac !== null) {
    const undo = previous.mac ? { undo: inside(['ip', 'link', 'set', 'dev', ifname, 'address', previous.mac]) } : {};
    s.push(step(h, `MAC ${next.mac} on ${ifname}`, inside(['ip', 'link', 'set', 'dev', ifname, 'address', next.mac]), undo));
  }
  if (next.vlan !== previous.vlan && next.bridgeType === 'ovs') {
    const tag = (v: number | null) => (v !== null ? `tag=${v}` : 'tag=[]');
    s.push(
      step(h, `VLAN ${next.vlan ?? 'none'} on ${hostEnd}`, vsctl('set', 'Port', hostEnd, tag(next.vlan)), {
        undo: vsctl('set', 'Port', hostEnd, tag(previous.vlan)),
      }),
    );
  }
  for (const a of previous.addresses.filter((x) => !next.addresses.includes(x))) {
    s.push(
      step(h, `remove address ${a} from ${ifname}`, inside(['ip', 'addr', 'del', a, 'dev', ifname]), {
        undo: inside(['ip', 'addr', 'replace', a, 'dev', ifname]),
        okExitCodes: [0, 2],
      }),
    );
  }
  if (needsIpv6(next) && !needsIpv6(previous)) s.push(enableIpv6Step(h, ifname, nsPath));
  for (const a of next.addresses.filter((x) => !previous.addresses.includes(x))) {
    s.push(
      step(h, `address ${a} on ${ifname}`, inside(['ip', ...addrReplace(a, ifname)]), {
        undo: inside(['ip', 'addr', 'del', a, 'dev', ifname]),
      }),
    );
  }
  const same = (a: StoredRoute, b: StoredRoute) =>
    a.to === b.to && (a.via ?? null) === (b.via ?? null) && String(a.table ?? 'main') === String(b.table ?? 'main');
  const routesChanged =
    next.gateway !== previous.gateway ||
    next.routes.length !== previous.routes.length ||
    next.routes.some((r, i) => !same(r, previous.routes[i]!));
  if (routesChanged) {
    // Routes and the gateway as a set: what was there and is no longer wanted goes; the new ones are replaced in.
    // A gateway outside the addresses' subnets is reached through a host route first (as at create).
    const routesOf = (d: AttachmentData): StoredRoute[] => [
      ...(d.gateway && !inAnySubnet(d.gateway, d.addresses) ? [{ to: `${d.gateway}/${ipFamily(d.gateway) === 6 ? 128 : 32}` }] : []),
      ...(d.gateway ? [{ to: ipFamily(d.gateway) === 6 ? '::/0' : '0.0.0.0/0', via: d.gateway }] : []),
      ...d.routes,
    ];
    const before = routesOf(previous);
    const after = routesOf(next);
    for (const r of before.filter((r) => !after.some((x) => same(x, r))))
      s.push(
        step(h, `remove route ${routeText(r)}`, inside(routeDelArgv(r, ifname)), {
          undo: inside(routeReplaceArgv(r, ifname)),
          okExitCodes: [0, 2],
        }),
      );
    for (const r of after.filter((r) => !before.some((x) => same(x, r))))
      s.push(step(h, `route ${routeText(r)}`, inside(routeReplaceArgv(r, ifname)), { undo: inside(routeDelArgv(r, ifname)) }));
  }
  // Rules as a set, as routes.
  const sameRule = (a: StoredRule, b: StoredRule) => ruleText(a) === ruleText(b);
  for (const r of previous.rules.filter((r) => !next.rules.some((x) => sameRule(x, r)))) {
    s.push({ ...ruleDelStep(h, r, nsPath), undo: ruleStep(h, r, nsPath).argv });
  }
  for (const r of next.rules.filter((r) => !previous.rules.some((x) => sameRule(x, r)))) s.push(ruleStep(h, r, nsPath));
  return { steps: s };
}

/**
 * pipework's `U:<seed>`: `echo <seed> | md5sum`, then 02 and the first five bytes, so re-creating an attachment with
 * the same seed gives it the same MAC (and pipework users keep theirs).
 */
export function macFromSeed(seed: string): string {
  const hex = createHash('md5').update(`${seed}\n`).digest('hex');
  return ['02', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)].join(':');
}

/** A random locally administered unicast MAC (what the kernel would pick), chosen by us so a re-attach can keep it. */
export function randomMac(random: (n: number) => Uint8Array): string {
  const b = random(5);
  return ['02', ...Array.from(b, (x) => x.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The first step of a batch into a target namespace: the namespace is still the one the job resolved (same inode).
 * A container that restarted mid-job has a new namespace (or its pid is gone): the batch stops here, the job undoes
 * what it did and fails, and nothing lands in another namespace.
 */
export function nsGuardStep(host: string, nsPath: string, inode: string): Step {
  return step(host, `the target's namespace is still ${inode}`, [
    'sh',
    '-c',
    'test "$(stat -L -c %i "$1")" = "$2"',
    'netplumb-ns-check',
    nsPath,
    inode,
  ]);
}

/** Where attach batches hold their target's namespace (pipework's bind mount, in a directory of our own). */
export const HELD_NS_DIR = '/run/netplumb/ns';

/**
 * The target's network namespace held for the whole batch, as the CNI bridge plugin holds it for an ADD (pipework
 * bind-mounts it under /var/run/netns): bind-mounted at HELD_NS_DIR/<id> and checked to be the namespace the job
 * resolved; every step in between uses the held path; at the end the target's own path is checked again (a container
 * that restarted meanwhile fails the batch, which is undone in the namespace still held, and the new container gets
 * the repair), then the hold is released. A failure anywhere releases it through the undo. A named namespace
 * (/var/run/netns/…) is already held by its own mount: only the checks.
 */
export function holdingNamespace(host: string, id: string, nsPath: string, inode: string, inner: (nsPath: string) => Step[]): Step[] {
  if (!nsPath.startsWith('/proc/')) return [nsGuardStep(host, nsPath, inode), ...inner(nsPath)];
  const held = `${HELD_NS_DIR}/${id}`;
  const release = ['sh', '-c', 'umount "$1"; rm -f "$1"', 'netplumb-ns-release', held];
  return [
    step(
      host,
      `hold the target's namespace (${inode}) at ${held}`,
      // A hold left by a crashed job for this attachment is replaced, not stacked; then the held one is checked.
      [
        'sh',
        '-c',
        'mkdir -p "$1" && { ! mountpoint -q "$2" || umount "$2"; } && touch "$2" && mount --bind "$3" "$2" && test "$(stat -L -c %i "$2")" = "$4"',
        'netplumb-ns-hold',
        HELD_NS_DIR,
        held,
        nsPath,
        inode,
      ],
      // Released also when the check failed after the mount.
      { undo: release, undoWhenFailed: true },
    ),
    ...inner(held),
    // The target still has that namespace (a restart meanwhile fails here, and everything is undone in the held one).
    step(host, `the target's namespace is still ${inode}; release ${held}`, [
      'sh',
      '-c',
      'test "$(stat -L -c %i "$1")" = "$3" && umount "$2" && rm -f "$2"',
      'netplumb-ns-end',
      nsPath,
      held,
      inode,
    ]),
  ];
}

/** What observe saw of a whole pair, as far as converging it needs. */
export interface PairFacts {
  hostEnd: {
    bridge: string | null;
    up: boolean | null;
    mtu: number | null;
    vlan: number | null;
    owner: string | null;
    error: string | null;
  };
  inside: { up: boolean | null; mtu: number | null; mac: string | null; addresses: string[] };
}

/**
 * Reset in place what differs on a whole veth pair (both ends present and paired): the port, MTU, MAC, addresses,
 * up, offload, routes. Nothing here is undone on failure: it resets to the record, and undoing would restore drift.
 */
export function convergeAttachmentPlan(id: string, d: AttachmentData & { ifname: string }, o: PairFacts, nsPath: string): Plan {
  const h = d.hostId;
  const hostEnd = d.hostIfname;
  const ifname = d.ifname;
  const s: Step[] = [];
  if (d.bridgeType === 'ovs') {
    if (o.hostEnd.bridge !== d.bridgeName || o.hostEnd.vlan !== d.vlan || o.hostEnd.owner !== id || o.hostEnd.error) {
      const tx = o.hostEnd.bridge && o.hostEnd.bridge !== d.bridgeName ? vsctl('--if-exists', 'del-port', hostEnd, '--') : vsctl();
      tx.push('--may-exist', 'add-port', d.bridgeName, hostEnd, '--', 'set', 'Interface', hostEnd, `external_ids:netplumb-id=${id}`);
      tx.push('--', 'set', 'Port', hostEnd, d.vlan !== null ? `tag=${d.vlan}` : 'tag=[]');
      s.push(step(h, `port ${hostEnd} on OVS bridge ${d.bridgeName}`, tx));
    }
  } else if (o.hostEnd.bridge !== d.bridgeName) {
    s.push(step(h, `${hostEnd} into Linux bridge ${d.bridgeName}`, ['ip', 'link', 'set', 'dev', hostEnd, 'master', d.bridgeName]));
  }
  if (d.mtu !== null && o.hostEnd.mtu !== d.mtu)
    s.push(step(h, `MTU ${d.mtu} on ${hostEnd}`, ['ip', 'link', 'set', 'dev', hostEnd, 'mtu', String(d.mtu)]));
  // The cable as the record says (link: down keeps it pulled).
  if (d.link === 'down') {
    if (o.hostEnd.up !== false) s.push(step(h, `${hostEnd} down (cable pulled)`, ['ip', 'link', 'set', 'dev', hostEnd, 'down']));
  } else if (o.hostEnd.up !== true) s.push(step(h, `${hostEnd} up`, ['ip', 'link', 'set', 'dev', hostEnd, 'up']));
  const offload =
    d.datapathType === 'netdev'
      ? [step(h, `tx checksum offload off on ${ifname} (netdev datapath)`, inNs(nsPath, ['ethtool', '-K', ifname, 'tx', 'off']))]
      : [];
  s.push(...convergeInsideSteps({ ...d, ifname }, o.inside, nsPath, offload));
  return { steps: s.map(({ undo: _u, ...x }) => x) };
}

/**
 * Reset in place what differs on the interface inside the target, whatever made it (every attachment type): MTU,
 * MAC, addresses (IPv6 on first when one is missing), up, then `afterUp`, routes and rules (the attach plan's own
 * steps: `ip route replace` and the rule step converge). Nothing is undone: it resets to the record.
 */
export function convergeInsideSteps(
  d: InsideConfig & { ifname: string; mtu: number | null; mac: string | null },
  o: { up: boolean | null; mtu: number | null; mac: string | null; addresses: string[] },
  nsPath: string,
  afterUp: Step[] = [],
): Step[] {
  const h = d.hostId;
  const ifname = d.ifname;
  const inside = (argv: string[]) => inNs(nsPath, argv);
  const s: Step[] = [];
  if (d.mtu !== null && o.mtu !== d.mtu)
    s.push(step(h, `MTU ${d.mtu} on ${ifname}`, inside(['ip', 'link', 'set', 'dev', ifname, 'mtu', String(d.mtu)])));
  if (d.mac && o.mac !== d.mac)
    s.push(step(h, `MAC ${d.mac} on ${ifname}`, inside(['ip', 'link', 'set', 'dev', ifname, 'address', d.mac])));
  for (const a of o.addresses.filter((x) => !d.addresses.includes(x)))
    s.push(step(h, `remove address ${a} from ${ifname}`, inside(['ip', 'addr', 'del', a, 'dev', ifname]), { okExitCodes: [0, 2] }));
  const missing = d.addresses.filter((x) => !o.addresses.includes(x));
  if (missing.some((a) => ipFamily(a) === 6)) s.push(enableIpv6Step(h, ifname, nsPath));
  for (const a of missing) s.push(step(h, `address ${a} on ${ifname}`, inside(['ip', ...addrReplace(a, ifname)])));
  if (o.up !== true) s.push(step(h, `${ifname} up`, inside(['ip', 'link', 'set', 'dev', ifname, 'up'])));
  s.push(...afterUp);
  s.push(...insideSteps({ d, ifname, nsPath }).filter((x) => x.argv.includes('route') || x.argv.includes('netplumb-rule')));
  return s.map(({ undo: _u, ...x }) => x);
}
