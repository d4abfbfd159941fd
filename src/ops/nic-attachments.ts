/**
 * Plans for attachments on a host NIC (pipework's physical-interface modes), as argv steps, each undoable:
 * - macvlan / ipvlan: the sub-interface made on the NIC (or its VLAN sub-interface) directly inside the target's
 *   namespace (`ip link add link <nic> name <ifname> netns <ns> type macvlan mode bridge`): it never exists on the
 *   host, so no name on the host can clash and nothing is left there when the target goes;
 * - phys (pipework --direct-phys): the NIC itself moved into the target and renamed; on delete it is renamed back and
 *   moved back to the host's namespace (the namespace the command runs in: `$$` of the shell that runs nsenter);
 * - `vlan`: the NIC's 802.1Q sub-interface `<nic>.<vlan>` is made when missing (and removed with the last user).
 * Pure: no I/O.
 */
import type { AttachmentData } from '../model/attachments.js';
import { inNs, insideSteps, ipBatch, ruleDelStep } from './attachments.js';
import { parseIpJson } from './links.js';
import { step, type Plan, type Step } from './plan.js';

/** A link as `ip -j -d link show` prints it (the fields read here). */
export interface HostLink {
  name: string;
  mac: string | null;
  mtu: number | null;
  alias: string | null;
  /** `vlan`, `macvlan`, `veth`, `bridge`, `openvswitch` … (null: a plain device, e.g. a physical NIC). */
  kind: string | null;
  vlanId: number | null;
  /** The device a VLAN (or macvlan) sits on. */
  link: string | null;
  /** Its addresses (read with `ip addr`; empty from `ip link`). */
  addresses: string[];
}

export function parseHostLinks(stdout: string): HostLink[] {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  return raw.map((l: Record<string, unknown>) => {
    const info = (l.linkinfo ?? {}) as { info_kind?: string; info_data?: { id?: number } };
    return {
      name: String(l.ifname),
      mac: typeof l.address === 'string' ? l.address.toLowerCase() : null,
      mtu: typeof l.mtu === 'number' ? l.mtu : null,
      alias: typeof l.ifalias === 'string' ? l.ifalias : null,
      kind: info.info_kind ?? null,
      vlanId: typeof info.info_data?.id === 'number' ? info.info_data.id : null,
      link: typeof l.link === 'string' ? l.link : null,
      addresses: Array.isArray(l.addr_info) ? (l.addr_info as { local: string }[]).map((a) => a.local) : [],
    };
  });
}

/**
 * The host's links with their details (kind, VLAN id, the device under them) and addresses: `addr`, not `link`, so the
 * addresses say which NIC the host is reached by.
 */
export const HOST_LINKS: readonly string[] = ['ip', '-j', '-d', 'addr', 'show'];

/** Read-only commands before planning: the host's links (to find the NIC by name or MAC), the target's. */
export function nicFactCommands(nsPath: string) {
  return {
    nsInodes: ['stat', '-L', '-c', '%i', '/proc/self/ns/net', nsPath],
    innerLinks: inNs(nsPath, ['ip', '-j', 'link', 'show']),
    hostLinks: HOST_LINKS,
  };
}

/** The NIC a parent reference names: by name, or `mac:` and its MAC. */
export function findParent(links: readonly HostLink[], ref: string): HostLink | null {
  if (ref.startsWith('mac:')) {
    const mac = ref.slice(4).toLowerCase();
    // A macvlan made on a NIC can share its MAC only in passthru mode; the NIC itself is the one that is not a sub-interface.
    return links.find((l) => l.mac === mac && l.kind !== 'macvlan' && l.kind !== 'ipvlan' && l.kind !== 'vlan') ?? null;
  }
  return links.find((l) => l.name === ref) ?? null;
}

/** `<nic>.<vlan>`, pipework's name for the VLAN sub-interface (null when it would not fit the kernel's 15 bytes). */
export function vlanDeviceName(parent: string, vlan: number): string | null {
  const name = `${parent}.${vlan}`;
  return Buffer.byteLength(name) <= 15 ? name : null;
}

export interface NicPlanInput {
  id: string;
  d: AttachmentData & { parent: NonNullable<AttachmentData['parent']> };
  /** The NIC's name on the host. */
  parentName: string;
  /** The device the sub-interface is made on, or that moves (phys): the NIC, or its VLAN sub-interface. */
  lower: string;
  /** True when the plan makes the VLAN sub-interface. */
  makeVlan: boolean;
  ifname: string;
  /** The held namespace path (ops/attachments.ts holdingNamespace). */
  nsPath: string;
  /** The MAC and MTU the moved device has on the host (phys: given back on delete). */
  original: { mac: string | null; mtu: number | null };
}

/** The VLAN sub-interface when missing (undone by deleting it), and the NIC and it up (as pipework does). */
function lowerSteps({ id, d, parentName, lower, makeVlan }: NicPlanInput): Step[] {
  const lines: string[][] = [];
  if (makeVlan) {
    lines.push(['link', 'add', 'link', parentName, 'name', lower, 'type', 'vlan', 'id', String(d.vlan)]);
    lines.push(['link', 'set', 'dev', lower, 'alias', `netplumb-vlan:${id}`]);
  }
  lines.push(['link', 'set', 'dev', parentName, 'up']);
  if (lower !== parentName) lines.push(['link', 'set', 'dev', lower, 'up']);
  const what = makeVlan ? `VLAN ${d.vlan} sub-interface ${lower} on ${parentName}, up` : `${lower} up`;
  return [
    step(d.hostId, what, ['ip', '-batch', '-'], {
      stdin: ipBatch(lines),
      ...(makeVlan ? { undo: ['ip', 'link', 'del', 'dev', lower] } : {}),
    }),
  ];
}

/** Rename back, give back MAC and MTU, then move back to the host's own namespace (the shell's, `$$`), and up. */
export function physReturnArgv(
  nsPath: string,
  ifname: string,
  hostName: string,
  original: { mac: string | null; mtu: number | null },
): string[] {
  return [
    'sh',
    '-c',
    [
      'nsenter --net="$1" ip link set dev "$2" down',
      '[ -z "$4" ] || nsenter --net="$1" ip link set dev "$2" address "$4"',
      '[ -z "$5" ] || nsenter --net="$1" ip link set dev "$2" mtu "$5"',
      '[ "$2" = "$3" ] || nsenter --net="$1" ip link set dev "$2" name "$3"',
      'nsenter --net="$1" ip link set dev "$3" netns "$$"',
      // Up again on the host, as the attach found it (it set the NIC up before moving it, as pipework does).
      'ip link set dev "$3" up',
    ].join(' && '),
    'netplumb-nic-return',
    nsPath,
    ifname,
    hostName,
    original.mac ?? '',
    original.mtu !== null ? String(original.mtu) : '',
  ];
}

/**
 * Make the interface inside: the sub-interface made in the target (macvlan, ipvlan) or the NIC moved in and renamed
 * (phys), marked `netplumb:<id>` (its alias), then the inside steps every type shares (addresses, up, gateway,
 * routes, rules).
 */
export function nicAttachPlan(input: NicPlanInput): Plan {
  const { id, d, lower, ifname, nsPath } = input;
  const h = d.hostId;
  const s: Step[] = [...lowerSteps(input)];
  const mtu = d.mtu !== null ? ['mtu', String(d.mtu)] : [];
  if (d.type === 'phys') {
    s.push(
      step(h, `move ${lower} into the target`, ['ip', 'link', 'set', 'dev', lower, 'netns', nsPath], {
        undo: physReturnArgv(nsPath, lower, lower, { mac: null, mtu: null }),
      }),
    );
    const lines = [
      ...(ifname !== lower ? [['link', 'set', 'dev', lower, 'name', ifname]] : []),
      ...(d.mac ? [['link', 'set', 'dev', ifname, 'address', d.mac]] : []),
      ...(d.mtu !== null ? [['link', 'set', 'dev', ifname, 'mtu', String(d.mtu)]] : []),
    ];
    if (lines.length)
      s.push(
        step(
          h,
          `${lower} named ${ifname}${d.mac ? `, MAC ${d.mac}` : ''}${d.mtu !== null ? `, MTU ${d.mtu}` : ''} inside`,
          inNs(nsPath, ['ip', '-batch', '-']),
          {
            stdin: ipBatch(lines),
            // Back to its own name, MAC and MTU inside, so the move's undo finds it by that name.
            undo: [
              'sh',
              '-c',
              'nsenter --net="$1" ip link set dev "$2" down; [ -z "$4" ] || nsenter --net="$1" ip link set dev "$2" address "$4"; [ -z "$5" ] || nsenter --net="$1" ip link set dev "$2" mtu "$5"; [ "$2" = "$3" ] || nsenter --net="$1" ip link set dev "$2" name "$3"',
              'netplumb-nic-restore',
              nsPath,
              ifname,
              lower,
              d.mac ? (input.original.mac ?? '') : '',
              d.mtu !== null && input.original.mtu !== null ? String(input.original.mtu) : '',
            ],
          },
        ),
      );
  } else {
    const kind = d.type === 'macvlan' ? ['type', 'macvlan', 'mode', d.mode ?? 'bridge'] : ['type', 'ipvlan', 'mode', d.mode ?? 'l2'];
    s.push(
      step(
        h,
        `${d.type} ${ifname} (mode ${d.mode}) on ${lower}, made inside the target`,
        ['ip', 'link', 'add', 'link', lower, 'name', ifname, ...mtu, ...(d.mac ? ['address', d.mac] : []), 'netns', nsPath, ...kind],
        { undo: inNs(nsPath, ['ip', 'link', 'del', 'dev', ifname]) },
      ),
    );
  }
  // A sub-interface is ours and marked; a phys NIC is the host's and goes back unmarked (the orphan scan must never
  // take it for ours).
  const mark = d.type === 'phys' ? [] : [['link', 'set', 'dev', ifname, 'alias', `netplumb:${id}`]];
  s.push(...insideSteps({ d, ifname, nsPath, firstLines: mark }));
  return { steps: s };
}

/** What delete found on the host before planning. */
export interface NicDetachFacts {
  /** The target's namespace now (null: the container is stopped or gone). */
  insideNs: string | null;
  insideExists: boolean;
  lowerExists: boolean;
  /** The VLAN sub-interface carries our mark (`netplumb-vlan:`): made by netplumb, whichever attachment made it. */
  lowerMadeByUs: boolean;
  lowerStillUsed: boolean;
  /** phys: the NIC is back on the host under this other name (a dead namespace gave it back to the kernel). */
  returnedAs: string | null;
}

/**
 * Delete: the attachment's rules and the interface inside go (macvlan, ipvlan: deleted; phys: renamed back, MAC and
 * MTU given back, moved back to the host, up), then a VLAN sub-interface netplumb made when no other attachment uses
 * it. A phys NIC a dead namespace gave back under another name is renamed back and put right on the host.
 */
export function nicDetachPlan(d: AttachmentData & { parent: NonNullable<AttachmentData['parent']> }, o: NicDetachFacts): Plan {
  const h = d.hostId;
  const s: Step[] = [];
  const ifname = d.ifname;
  const original = { mac: d.mac ? d.parent.mac : null, mtu: d.mtu !== null ? d.parent.mtu : null };
  const name = d.parent.lower ?? d.parent.name ?? ifname;
  if (o.insideNs && o.insideExists && ifname) {
    // Rules live in the namespace, not on the device: they would outlive the attachment in a named netns.
    s.push(...d.rules.map((r) => ruleDelStep(h, r, o.insideNs!)));
    if (d.type === 'phys') {
      s.push(step(h, `${ifname} back to the host as ${name}`, physReturnArgv(o.insideNs, ifname, name!, original)));
    } else {
      s.push(
        step(h, `delete ${d.type} ${ifname} in the target`, inNs(o.insideNs, ['ip', 'link', 'del', 'dev', ifname]), {
          okExitCodes: [0, 1],
        }),
      );
    }
  } else if (d.type === 'phys' && o.returnedAs && name && o.returnedAs !== name) {
    s.push(
      step(h, `${o.returnedAs} (given back by the kernel) renamed back to ${name}`, [
        'sh',
        '-c',
        'ip link set dev "$1" down && ip link set dev "$1" name "$2" && { [ -z "$3" ] || ip link set dev "$2" address "$3"; } && { [ -z "$4" ] || ip link set dev "$2" mtu "$4"; } && ip link set dev "$2" up',
        'netplumb-nic-rename-back',
        o.returnedAs,
        name,
        original.mac ?? '',
        original.mtu !== null ? String(original.mtu) : '',
      ]),
    );
  }
  const lower = d.parent.lower;
  const ours = d.parent.vlanMade || o.lowerMadeByUs;
  if (d.vlan !== null && ours && lower && (o.lowerExists || d.type === 'phys') && !o.lowerStillUsed) {
    s.push(
      step(h, `delete VLAN sub-interface ${lower} (no other attachment uses it)`, ['ip', 'link', 'del', 'dev', lower], {
        okExitCodes: [0, 1],
      }),
    );
  }
  return { steps: s };
}

export function innerLinkNames(stdout: string): string[] {
  return parseIpJson(stdout).map((l) => l.name);
}
