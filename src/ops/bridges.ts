/** Bridge plans: pure functions from the desired bridge (and what the host has) to argv steps. */
import type { BridgeData } from '../model/bridges.js';
import { diffFields, type DriftItem } from '../model/resource.js';
import { ipFamily } from '../model/net.js';
import { type Plan, type Step, step, vsctl } from './plan.js';
import { ipLinkShow, ownerFromAlias, ovsRows, parseIpJson, type LinkInfo } from './links.js';

export interface BridgeFacts {
  /** A link or OVS bridge of this name exists. */
  exists: boolean;
  /** What it is: an OVS bridge, a Linux bridge, or some other device. */
  kind: 'ovs' | 'linux' | 'other' | null;
  /** The netplumb id it is marked with, if any. */
  owner: string | null;
}

/** Read-only commands whose output parseBridgeFacts turns into BridgeFacts. */
export function bridgeFactCommands(d: Pick<BridgeData, 'name'>) {
  return {
    link: ipLinkShow(d.name),
    ovsExists: vsctl('br-exists', d.name),
    ovsOwner: vsctl('br-get-external-id', d.name, 'netplumb-id'),
  };
}

export function parseBridgeFacts(r: {
  link: { exitCode: number; stdout: string };
  ovsExists?: { exitCode: number };
  ovsOwner?: { exitCode: number; stdout: string };
}): BridgeFacts {
  const ovs = r.ovsExists?.exitCode === 0;
  const link = r.link.exitCode === 0 ? parseIpJson(r.link.stdout)[0] : undefined;
  if (ovs) return { exists: true, kind: 'ovs', owner: r.ovsOwner?.stdout.trim() || null };
  if (!link) return { exists: false, kind: null, owner: null };
  return { exists: true, kind: link.kind === 'bridge' ? 'linux' : 'other', owner: ownerFromAlias(link.alias) };
}

function addressSteps(host: string, d: BridgeData, previous: string[]): Step[] {
  const steps: Step[] = [];
  for (const a of previous.filter((p) => !d.addresses.includes(p))) {
    steps.push(
      step(host, `remove address ${a} from ${d.name}`, ['ip', 'addr', 'del', a, 'dev', d.name], {
        undo: ['ip', 'addr', 'replace', a, 'dev', d.name],
        okExitCodes: [0, 2],
      }),
    );
  }
  for (const a of d.addresses) {
    const had = previous.includes(a);
    steps.push(
      step(
        host,
        `address ${a} on ${d.name}`,
        // IPv6 without duplicate address detection (as on attachments): usable when the job answers.
        ['ip', 'addr', 'replace', a, 'dev', d.name, ...(ipFamily(a) === 6 ? ['nodad'] : [])],
        had ? {} : { undo: ['ip', 'addr', 'del', a, 'dev', d.name] },
      ),
    );
  }
  return steps;
}

/**
 * Create (or converge) a bridge. `facts` is what the host has now; a bridge that is already there
 * (ours, or adopted) is converged in place and never deleted by an undo.
 */
export function createBridgePlan(id: string, d: BridgeData, facts: BridgeFacts): Plan {
  const h = d.hostId;
  const steps: Step[] = [];
  if (d.type === 'ovs') {
    const tx = vsctl(
      '--may-exist',
      'add-br',
      d.name,
      '--',
      'set',
      'Bridge',
      d.name,
      `datapath_type=${d.datapathType}`,
      `external_ids:netplumb-id=${id}`,
      `stp_enable=${d.stp}`,
    );
    // --may-exist returns early on an existing bridge without applying columns given with add-br: the explicit set converges.
    if (d.mtu !== null) tx.push('--', 'set', 'Interface', d.name, `mtu_request=${d.mtu}`);
    steps.push(
      step(h, `OVS bridge ${d.name} (${d.datapathType})`, tx, {
        undo: facts.exists ? vsctl('remove', 'Bridge', d.name, 'external_ids', 'netplumb-id') : vsctl('--if-exists', 'del-br', d.name),
      }),
    );
  } else {
    if (!facts.exists) {
      steps.push(
        step(h, `Linux bridge ${d.name}`, ['ip', 'link', 'add', 'name', d.name, 'type', 'bridge', 'stp_state', d.stp ? '1' : '0'], {
          undo: ['ip', 'link', 'del', 'dev', d.name],
        }),
      );
    } else {
      steps.push(
        step(h, `STP ${d.stp ? 'on' : 'off'} on ${d.name}`, [
          'ip',
          'link',
          'set',
          'dev',
          d.name,
          'type',
          'bridge',
          'stp_state',
          d.stp ? '1' : '0',
        ]),
      );
    }
    steps.push(step(h, `mark ${d.name} as netplumb's`, ['ip', 'link', 'set', 'dev', d.name, 'alias', `netplumb:${id}`]));
    if (d.mtu !== null) steps.push(step(h, `MTU ${d.mtu} on ${d.name}`, ['ip', 'link', 'set', 'dev', d.name, 'mtu', String(d.mtu)]));
  }
  steps.push(...addressSteps(h, d, []));
  steps.push(step(h, `${d.name} up`, ['ip', 'link', 'set', 'dev', d.name, 'up']));
  return { steps };
}

/**
 * PATCH: converge addresses (removing dropped ones), MTU, STP; the bridge itself stays. `liveMtu` is the MTU the
 * link has now: the undo goes back to it when the bridge had no MTU of its own.
 */
export function updateBridgePlan(d: BridgeData, previous: BridgeData, liveMtu: number | null = null): Plan {
  const h = d.hostId;
  const steps: Step[] = [];
  if (d.type === 'ovs') {
    const tx = vsctl('set', 'Bridge', d.name, `stp_enable=${d.stp}`);
    if (d.mtu !== null) tx.push('--', 'set', 'Interface', d.name, `mtu_request=${d.mtu}`);
    const back =
      previous.mtu !== null
        ? ['--', 'set', 'Interface', d.name, `mtu_request=${previous.mtu}`]
        : d.mtu !== null
          ? ['--', 'clear', 'Interface', d.name, 'mtu_request']
          : [];
    steps.push(step(h, `settings of ${d.name}`, tx, { undo: vsctl('set', 'Bridge', d.name, `stp_enable=${previous.stp}`, ...back) }));
  } else {
    steps.push(
      step(
        h,
        `STP ${d.stp ? 'on' : 'off'} on ${d.name}`,
        ['ip', 'link', 'set', 'dev', d.name, 'type', 'bridge', 'stp_state', d.stp ? '1' : '0'],
        { undo: ['ip', 'link', 'set', 'dev', d.name, 'type', 'bridge', 'stp_state', previous.stp ? '1' : '0'] },
      ),
    );
    if (d.mtu !== null) {
      const back = previous.mtu ?? liveMtu;
      steps.push(
        step(
          h,
          `MTU ${d.mtu} on ${d.name}`,
          ['ip', 'link', 'set', 'dev', d.name, 'mtu', String(d.mtu)],
          back !== null ? { undo: ['ip', 'link', 'set', 'dev', d.name, 'mtu', String(back)] } : {},
        ),
      );
    }
  }
  steps.push(...addressSteps(h, d, previous.addresses));
  steps.push(step(h, `${d.name} up`, ['ip', 'link', 'set', 'dev', d.name, 'up']));
  return { steps };
}

/** Delete: OVS del-br takes its ports with it; a Linux bridge releases its ports when deleted. */
export function deleteBridgePlan(d: BridgeData, facts: BridgeFacts): Plan {
  if (!facts.exists) return { steps: [] };
  if (d.type === 'ovs') return { steps: [step(d.hostId, `delete OVS bridge ${d.name}`, vsctl('--if-exists', 'del-br', d.name))] };
  return { steps: [step(d.hostId, `delete Linux bridge ${d.name}`, ['ip', 'link', 'del', 'dev', d.name])] };
}

// ---- observation

export function observeCommands(d: Pick<BridgeData, 'name' | 'type'>) {
  const c: Record<string, string[]> = { link: ipLinkShow(d.name) };
  if (d.type === 'ovs') {
    c.bridge = vsctl('--format=json', '--columns=name,datapath_type,external_ids,ports', 'find', 'Bridge', `name=${d.name}`);
    c.ports = vsctl('list-ports', d.name);
    c.ifaces = vsctl('--format=json', '--columns=name,type,external_ids,error', 'list', 'Interface');
  } else {
    c.ports = ['ip', '-j', '-d', 'link', 'show', 'master', d.name];
  }
  return c;
}

export interface ObservedBridge {
  exists: boolean;
  up: boolean | null;
  addresses: string[];
  mtu: number | null;
  datapathType: string | null;
  owner: string | null;
  ports: { name: string; owner: string | null; type: string | null; error?: string | null }[];
}

export function parseObservation(d: Pick<BridgeData, 'type'>, out: Record<string, { exitCode: number; stdout: string }>): ObservedBridge {
  const link: LinkInfo | undefined = out.link!.exitCode === 0 ? parseIpJson(out.link!.stdout)[0] : undefined;
  const o: ObservedBridge = {
    exists: !!link,
    up: link?.up ?? null,
    addresses: link?.addresses ?? [],
    mtu: link?.mtu ?? null,
    datapathType: null,
    owner: d.type === 'linux' ? ownerFromAlias(link?.alias ?? null) : null,
    ports: [],
  };
  if (d.type === 'ovs') {
    const br = ovsRows(out.bridge?.stdout ?? '')[0];
    o.exists = o.exists || !!br;
    if (br) {
      o.datapathType = (br.datapath_type as string) || 'system';
      o.owner = ((br.external_ids as Record<string, string> | undefined) ?? {})['netplumb-id'] ?? null;
    }
    const names = (out.ports?.stdout ?? '')
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    const ifaces = new Map(ovsRows(out.ifaces?.stdout ?? '').map((r) => [r.name as string, r]));
    o.ports = names.map((n) => {
      const i = ifaces.get(n);
      const error = Array.isArray(i?.error) ? null : (i?.error as string | undefined);
      return {
        name: n,
        owner: ((i?.external_ids as Record<string, string> | undefined) ?? {})['netplumb-id'] ?? null,
        type: (i?.type as string) || null,
        error: error ?? null,
      };
    });
  } else if (out.ports?.exitCode === 0) {
    o.ports = parseIpJson(out.ports.stdout).map((l) => ({ name: l.name, owner: ownerFromAlias(l.alias), type: l.kind }));
  }
  return o;
}

export function bridgeDrift(id: string, d: BridgeData, o: ObservedBridge): DriftItem[] {
  if (!o.exists) return [{ field: 'exists', desired: true, actual: false }];
  return diffFields([
    { field: 'owner', desired: id, actual: o.owner },
    { field: 'up', desired: true, actual: o.up },
    { field: 'addresses', desired: d.addresses, actual: o.addresses, unordered: true },
    { field: 'mtu', desired: d.mtu, actual: o.mtu, skip: d.mtu === null },
    { field: 'datapathType', desired: d.datapathType, actual: o.datapathType, skip: d.type !== 'ovs' || !d.datapathType },
  ]);
}

/**
 * The ports the service's records put on a bridge (tunnel ends, attachments' host ends): each one missing, marked by
 * another owner, or without its device (OVS error) is drift, named `port:<name>`.
 */
export function memberDrift(o: ObservedBridge, members: { name: string; owner: string }[]): DriftItem[] {
  if (!o.exists) return [];
  const drift: DriftItem[] = [];
  for (const m of members) {
    const p = o.ports.find((x) => x.name === m.name);
    if (!p) drift.push({ field: `port:${m.name}`, desired: m.owner, actual: null });
    else if (p.owner !== null && p.owner !== m.owner) drift.push({ field: `port:${m.name}`, desired: m.owner, actual: p.owner });
    else if (p.error) drift.push({ field: `port:${m.name}:error`, desired: null, actual: p.error });
  }
  return drift;
}
