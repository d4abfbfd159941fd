/**
 * Impairment plans: tc qdiscs on a device's egress (tbf for rate; netem for delay, jitter, corruption, duplication,
 * and loss where nftables cannot), nftables `numgen random` drops on a device's netdev hooks (loss), and the cable
 * (link down/up). Pure: facts in, steps out; every step's undo puts back what was there before.
 */
import {
  impairmentBackend,
  normalizeSpec,
  type ImpairmentBackend,
  type ImpairmentSpec,
  type LinkState,
  type TrafficControlFacts,
} from '../model/impairments.js';
import { step, type Step } from './plan.js';

/** A device a direction is applied to: its name and, when it sits in another namespace, that namespace's path. */
export interface Device {
  dev: string;
  nsPath: string | null;
}

const inNs = (nsPath: string | null, argv: string[]) => (nsPath ? ['nsenter', `--net=${nsPath}`, ...argv] : argv);

/** tbf burst: enough for a few full-size frames and ~20 ms at the rate, so TCP reaches the rate without a big first burst. */
export function tbfBurstBytes(kbit: number): number {
  return Math.max(16_000, Math.ceil((kbit * 1000) / 8 / 50));
}

const num = (n: number) => String(Math.round(n * 100) / 100);

/** The classic BPF that picks `percent` of packets at random: `ld rand; jge #T; ret -1 (match); ret 0`. */
export function randomBytecode(percent: number): string {
  const t = Math.min(2 ** 32 - 1, Math.round((percent / 100) * 2 ** 32));
  // SKF_AD_OFF + SKF_AD_RANDOM = 0xfffff000 + 56; codes: 32 = ld abs, 53 = jge k, 6 = ret k.
  return `4,32 0 0 4294963256,53 1 0 ${t},6 0 0 4294967295,6 0 0 0`;
}

/** The `tc -batch -` lines that build one direction on `dev` (none: nothing to shape). `dropDev`: for tc-drop loss. */
export function tcLines(dev: string, spec: ImpairmentSpec, backend: ImpairmentBackend, dropDev?: string): string[][] {
  const s = normalizeSpec(spec);
  const lines: string[][] = [];
  const kbit = s.rateMbit ? Math.round(s.rateMbit * 1000) : 0;
  const tbf = ['tbf', 'rate', `${kbit}kbit`, 'burst', String(tbfBurstBytes(kbit)), 'latency', '100ms'];
  if (backend.netem) {
    const netem = ['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'netem', 'limit', '10000'];
    if (s.delayMs) netem.push('delay', `${num(s.delayMs)}ms`, ...(s.jitterMs ? [`${num(s.jitterMs)}ms`] : []));
    if (s.lossPercent && backend.lossVia === 'netem') netem.push('loss', `${num(s.lossPercent)}%`);
    if (s.corruptPercent) netem.push('corrupt', `${num(s.corruptPercent)}%`);
    if (s.duplicatePercent) netem.push('duplicate', `${num(s.duplicatePercent)}%`);
    lines.push(netem);
    if (kbit) lines.push(['qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', ...tbf]);
  } else if (s.lossPercent && backend.lossVia === 'tc-drop' && dropDev) {
    // htb only to hold the filter: a filter's stolen packet counts as sent for the sender (silent loss, as on a wire).
    lines.push(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1']);
    lines.push(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100gbit', 'quantum', '60000']);
    if (kbit) lines.push(['qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', ...tbf]);
    lines.push([
      'filter',
      'add',
      'dev',
      dev,
      'parent',
      '1:',
      'protocol',
      'all',
      'prio',
      '1',
      'bpf',
      'bytecode',
      `"${randomBytecode(s.lossPercent)}"`,
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      dropDev,
    ]);
  } else if (kbit) {
    lines.push(['qdisc', 'add', 'dev', dev, 'root', 'handle', '10:', ...tbf]);
  }
  return lines;
}

/** The down IFB device tc-drop sends the lost packets to, in the target's namespace (≤ 15 bytes). */
export const dropDevice = (id: string) => `npd${id.slice(-12)}`;

const batchText = (lines: string[][]) => lines.map((l) => l.join(' ')).join('\n') + '\n';

/**
 * Steps that take `dev`'s egress from `prev` to `next`: the root qdisc goes (undo: the previous qdiscs back), then
 * the new ones are added in one `tc -batch -` (undo: the root goes again). Nothing when both build the same.
 */
export function tcSteps(
  host: string,
  where: Device,
  label: string,
  prev: { spec: ImpairmentSpec; backend: ImpairmentBackend },
  next: { spec: ImpairmentSpec; backend: ImpairmentBackend },
  force = false,
  dropDev?: string,
): Step[] {
  const before = tcLines(where.dev, prev.spec, prev.backend, dropDev);
  const after = tcLines(where.dev, next.spec, next.backend, dropDev);
  if (!force && batchText(before) === batchText(after)) return [];
  const del = inNs(where.nsPath, ['tc', 'qdisc', 'del', 'dev', where.dev, 'root']);
  const batch = inNs(where.nsPath, ['tc', '-batch', '-']);
  const steps: Step[] = [
    step(host, `${label}: clear the qdiscs on ${where.dev}`, del, {
      // 2: there was no qdisc of ours (the device's default noqueue).
      okExitCodes: [0, 2],
      ...(before.length ? { undo: batch, undoStdin: batchText(before) } : {}),
    }),
  ];
  if (after.length) {
    steps.push(
      step(host, `${label}: ${after.map((l) => l.slice(l.indexOf('handle') + 2).join(' ')).join(' + ')} on ${where.dev}`, batch, {
        stdin: batchText(after),
        undo: del,
        undoWhenFailed: true,
      }),
    );
  }
  return steps;
}

/** One chain of a loss table: a netdev hook on a device, dropping `lossPercent` of what passes. */
export interface LossChain {
  chain: string;
  hook: 'ingress' | 'egress';
  dev: string;
  lossPercent: number;
}

/** Loss is drawn per packet out of 10000, so two decimals of a percent are kept. */
export const lossThreshold = (percent: number) => Math.round(percent * 100);

/** The nftables table of one resource, named after it: replaced whole (`table; delete table; table {…}`), or removed. */
export function nftScript(table: string, chains: LossChain[]): string {
  const lines = [`table netdev ${table}`, `delete table netdev ${table}`];
  if (chains.length) {
    lines.push(`table netdev ${table} {`);
    for (const c of chains) {
      lines.push(
        `  chain ${c.chain} {`,
        `    type filter hook ${c.hook} device "${c.dev}" priority -500; policy accept;`,
        `    numgen random mod 10000 < ${lossThreshold(c.lossPercent)} counter drop`,
        '  }',
      );
    }
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}

/** The nft table a resource's loss rules live in. */
export const lossTable = (id: string) => `netplumb_${id}`;

/** Steps that take a resource's loss table from `prev` to `next` chains (in the namespace of `nsPath`). */
export function nftSteps(
  host: string,
  nsPath: string | null,
  label: string,
  table: string,
  prev: LossChain[],
  next: LossChain[],
  force = false,
): Step[] {
  const before = nftScript(table, prev);
  const after = nftScript(table, next);
  if (!force && before === after) return [];
  const argv = inNs(nsPath, ['nft', '-f', '-']);
  const what = next.length ? next.map((c) => `${c.lossPercent}% loss on ${c.dev} ${c.hook}`).join(', ') : 'no loss';
  return [
    step(host, `${label}: ${what} (nftables table ${table})`, argv, { stdin: after, undo: argv, undoStdin: before, undoWhenFailed: true }),
  ];
}

/** The cable: the device's admin state; a veth's peer then loses carrier. */
export function linkStep(host: string, where: Device, label: string, prev: LinkState, next: LinkState): Step[] {
  if (prev === next) return [];
  const set = (s: LinkState) => inNs(where.nsPath, ['ip', 'link', 'set', 'dev', where.dev, s]);
  return [
    step(host, `${label}: ${next === 'down' ? 'pull the cable' : 're-plug the cable'} (${where.dev} ${next})`, set(next), {
      undo: set(prev),
    }),
  ];
}

// ---- attachments

export interface AttachmentImpairmentState {
  toContainer: ImpairmentSpec;
  fromContainer: ImpairmentSpec;
  link: LinkState;
}

export interface AttachmentEnds {
  id: string;
  hostId: string;
  hostIfname: string;
  ifname: string;
  nsPath: string;
}

/**
 * Towards the target: the host end's egress (tc) and the inner end's ingress hook (loss); from the target: the inner
 * end's egress (tc and loss). The loss table lives in the target's namespace: on the netdev datapath OVS reads and
 * writes the host end through a packet socket, which nftables hooks on the host end would not see.
 */
export function attachmentImpairmentSteps(
  a: AttachmentEnds,
  tc: TrafficControlFacts | null,
  prev: AttachmentImpairmentState,
  next: AttachmentImpairmentState,
  force = false,
  /** Whether the drop device is in the target now (default: when `prev` needs it; a restarted container has none). */
  dropExists?: boolean,
): Step[] {
  const backend = (s: ImpairmentSpec) => backendOf(tc, s);
  // What the target itself sends leaves through its end: loss there must be silent (tc-drop) where netem is missing.
  const fromBackend = (s: ImpairmentSpec) => backendOf(tc, s, 'egress-local');
  const hostEnd: Device = { dev: a.hostIfname, nsPath: null };
  const inner: Device = { dev: a.ifname, nsPath: a.nsPath };
  const drop = dropDevice(a.id);
  const chains = (st: AttachmentImpairmentState): LossChain[] => {
    const out: LossChain[] = [];
    const to = normalizeSpec(st.toContainer);
    const from = normalizeSpec(st.fromContainer);
    if (to.lossPercent && backend(to).lossVia === 'nft')
      out.push({ chain: 'to_container', hook: 'ingress', dev: a.ifname, lossPercent: to.lossPercent });
    if (from.lossPercent && fromBackend(from).lossVia === 'nft')
      out.push({ chain: 'from_container', hook: 'egress', dev: a.ifname, lossPercent: from.lossPercent });
    return out;
  };
  const needsDrop = (st: AttachmentImpairmentState) =>
    !!normalizeSpec(st.fromContainer).lossPercent && fromBackend(st.fromContainer).lossVia === 'tc-drop';
  const ip = (argv: string[]) => inNs(a.nsPath, ['ip', ...argv]);
  const dropAdd = [
    step(a.hostId, `loss: the drop device ${drop} (IFB, down) in the target`, ip(['link', 'add', 'name', drop, 'type', 'ifb']), {
      undo: ip(['link', 'del', 'dev', drop]),
    }),
  ];
  const dropDel = [
    step(a.hostId, `loss: remove the drop device ${drop}`, ip(['link', 'del', 'dev', drop]), {
      okExitCodes: [0, 1],
      undo: ip(['link', 'add', 'name', drop, 'type', 'ifb']),
    }),
  ];
  return [
    ...tcSteps(
      a.hostId,
      hostEnd,
      'towards the container',
      { spec: prev.toContainer, backend: backend(prev.toContainer) },
      { spec: next.toContainer, backend: backend(next.toContainer) },
      force,
    ),
    ...(needsDrop(next) && !(dropExists ?? needsDrop(prev)) ? dropAdd : []),
    ...tcSteps(
      a.hostId,
      inner,
      'from the container',
      { spec: prev.fromContainer, backend: fromBackend(prev.fromContainer) },
      { spec: next.fromContainer, backend: fromBackend(next.fromContainer) },
      force,
      drop,
    ),
    ...(needsDrop(prev) && !needsDrop(next) && (dropExists ?? true) ? dropDel : []),
    // A changed loss always rewrites the table (idempotent): the host's facts may have changed since it was written.
    ...nftSteps(a.hostId, a.nsPath, 'loss', lossTable(a.id), chains(prev), chains(next), force || lossChanged(prev, next)),
    ...linkStep(a.hostId, hostEnd, 'cable', prev.link, next.link),
  ];
}

/** Some loss was there before and it is different now. */
function lossChanged(prev: AttachmentImpairmentState, next: AttachmentImpairmentState): boolean {
  const l = (s: ImpairmentSpec) => normalizeSpec(s).lossPercent ?? 0;
  const had = l(prev.toContainer) || l(prev.fromContainer);
  return !!had && (l(prev.toContainer) !== l(next.toContainer) || l(prev.fromContainer) !== l(next.fromContainer));
}

/** The backend for a spec on a host (facts unknown: as if only tbf and nftables were there; requests are checked before). */
export function backendOf(
  tc: TrafficControlFacts | null,
  spec: ImpairmentSpec,
  where: 'ingress' | 'egress' | 'egress-local' = 'egress',
): ImpairmentBackend {
  const facts: TrafficControlFacts = tc ?? {
    netem: false,
    tbf: true,
    htb: false,
    ingress: false,
    ifb: false,
    u32: false,
    mirred: false,
    bpf: false,
    nftNumgen: true,
    nftNetdevHooks: true,
    nftLimit: false,
    iptablesStatistic: false,
  };
  return impairmentBackend(facts, spec, '', '', where).backend;
}

// ---- tunnels (Linux ends: one kernel device per tunnel)

export interface TunnelEndImpairment {
  tunnelId: string;
  hostId: string;
  portName: string;
}

/** Traffic to the remote: the tunnel device's egress (tc) and its egress hook (loss), on the end's host. */
export function tunnelEndImpairmentSteps(
  e: TunnelEndImpairment,
  tc: TrafficControlFacts | null,
  prev: { spec: ImpairmentSpec; link: LinkState },
  next: { spec: ImpairmentSpec; link: LinkState },
  force = false,
): Step[] {
  const dev: Device = { dev: e.portName, nsPath: null };
  const chains = (s: ImpairmentSpec): LossChain[] => {
    const n = normalizeSpec(s);
    return n.lossPercent && backendOf(tc, n).lossVia === 'nft'
      ? [{ chain: 'to_remote', hook: 'egress', dev: e.portName, lossPercent: n.lossPercent }]
      : [];
  };
  return [
    ...tcSteps(
      e.hostId,
      dev,
      `to the remote`,
      { spec: prev.spec, backend: backendOf(tc, prev.spec) },
      { spec: next.spec, backend: backendOf(tc, next.spec) },
      force,
    ),
    ...nftSteps(
      e.hostId,
      null,
      'loss',
      lossTable(e.tunnelId),
      chains(prev.spec),
      chains(next.spec),
      force || (!!normalizeSpec(prev.spec).lossPercent && normalizeSpec(prev.spec).lossPercent !== normalizeSpec(next.spec).lossPercent),
    ),
    ...linkStep(e.hostId, dev, 'tunnel link', prev.link, next.link),
  ];
}

/**
 * The link of a tunnel port inside Open vSwitch (no kernel device to take down): OpenFlow port config `no-forward`
 * and `no-receive` stop it both ways; `forward`/`receive` restore it. Runtime state of ovs-vswitchd: a restart of the
 * daemon forgets it (observe reports the drift).
 */
export function ovsPortLinkSteps(host: string, bridge: string, port: string, prev: LinkState, next: LinkState): Step[] {
  if (prev === next) return [];
  const mod = (action: string) => ['ovs-ofctl', '--timeout=10', 'mod-port', bridge, port, action];
  const [fwd, recv] = next === 'down' ? ['no-forward', 'no-receive'] : ['forward', 'receive'];
  const [undoFwd, undoRecv] = next === 'down' ? ['forward', 'receive'] : ['no-forward', 'no-receive'];
  const what = next === 'down' ? 'take the tunnel port down' : 'bring the tunnel port back';
  return [
    step(host, `tunnel link: ${what} (${port} ${fwd})`, mod(fwd), { undo: mod(undoFwd) }),
    step(host, `tunnel link: ${what} (${port} ${recv})`, mod(recv), { undo: mod(undoRecv) }),
  ];
}
