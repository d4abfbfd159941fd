/** Reading impairments back from a host: `tc -j qdisc show`, `nft -j list table`, `ip -j link show`. Pure parsing. */
import { normalizeSpec, type ImpairmentSpec, type LinkState } from '../model/impairments.js';
import { diffFields, type DriftItem } from '../model/resource.js';
import { lossTable } from './impairments.js';

const inNs = (nsPath: string | null, argv: string[]) => (nsPath ? ['nsenter', `--net=${nsPath}`, ...argv] : argv);

export function attachmentImpairmentCommands(id: string, hostIfname: string, ifname: string | null, nsPath: string | null) {
  const cmds: Record<'hostLink' | 'hostQdisc' | 'innerQdisc' | 'innerFilter' | 'innerNft', string[]> = {
    hostLink: ['ip', '-j', 'link', 'show', 'dev', hostIfname],
    hostQdisc: ['tc', '-j', 'qdisc', 'show', 'dev', hostIfname],
    // Without a known namespace and name there is nothing to read inside: `true` answers empty.
    innerQdisc: nsPath && ifname ? inNs(nsPath, ['tc', '-j', 'qdisc', 'show', 'dev', ifname]) : ['true'],
    innerFilter: nsPath && ifname ? inNs(nsPath, ['tc', '-j', 'filter', 'show', 'dev', ifname]) : ['true'],
    innerNft: nsPath ? inNs(nsPath, ['nft', '-j', 'list', 'table', 'netdev', lossTable(id)]) : ['true'],
  };
  return cmds;
}

export function tunnelEndImpairmentCommands(id: string, portName: string) {
  return {
    link: ['ip', '-j', 'link', 'show', 'dev', portName],
    qdisc: ['tc', '-j', 'qdisc', 'show', 'dev', portName],
    nft: ['nft', '-j', 'list', 'table', 'netdev', lossTable(id)],
  };
}

type Out = { exitCode: number; stdout: string };

function json(out: Out | undefined): unknown {
  if (!out || out.exitCode !== 0 || !out.stdout.trim()) return null;
  try {
    return JSON.parse(out.stdout) as unknown;
  } catch {
    return null;
  }
}

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const numOr = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const r2 = (n: number) => Math.round(n * 100) / 100;

/**
 * A device's egress impairment from `tc -j qdisc show`: tbf's rate (bytes/s), netem's delay and jitter (seconds),
 * loss, corruption and duplication (fractions). Another root qdisc (noqueue, fq_codel, …) means none of ours.
 */
export function parseQdiscs(out: Out | undefined): ImpairmentSpec {
  const list = json(out);
  const spec: ImpairmentSpec = {};
  if (!Array.isArray(list)) return spec;
  for (const q of list.map(obj)) {
    const o = obj(q.options);
    if (q.kind === 'tbf') {
      const rate = numOr(o.rate);
      if (rate) spec.rateMbit = Math.round((rate * 8) / 1000) / 1000;
    }
    if (q.kind === 'netem') {
      const delay = obj(o.delay);
      const d = numOr(delay.delay);
      const j = numOr(delay.jitter);
      if (d) spec.delayMs = r2(d * 1000);
      if (j) spec.jitterMs = r2(j * 1000);
      const loss = numOr(obj(o['loss-random']).loss);
      if (loss) spec.lossPercent = r2(loss * 100);
      const dup = numOr(obj(o.duplicate).duplicate);
      if (dup) spec.duplicatePercent = r2(dup * 100);
      const corrupt = numOr(obj(o.corrupt).corrupt);
      if (corrupt) spec.corruptPercent = r2(corrupt * 100);
    }
  }
  return spec;
}

/** Loss per chain of one of our tables: `numgen random mod 10000 < N … drop` → N/100 percent. */
export function parseLossTable(out: Out | undefined): Map<string, number> {
  const loss = new Map<string, number>();
  const items = obj(json(out)).nftables;
  if (!Array.isArray(items)) return loss;
  for (const item of items.map(obj)) {
    const rule = obj(item.rule);
    if (!Array.isArray(rule.expr) || typeof rule.chain !== 'string') continue;
    const exprs = rule.expr.map(obj);
    if (!exprs.some((e) => 'drop' in e)) continue;
    for (const e of exprs) {
      const m = obj(e.match);
      const ng = obj(obj(m.left).numgen);
      const right = numOr(m.right);
      if (ng.mode === 'random' && right !== null && m.op === '<') {
        const mod = numOr(ng.mod) ?? 10000;
        loss.set(rule.chain, r2((right / mod) * 100));
      }
    }
  }
  return loss;
}

/** tc-drop loss: a bpf filter whose `jge` threshold picks the share of packets sent to the drop device (out of 2^32). */
export function parseDropFilter(out: Out | undefined): number | null {
  const list = json(out);
  if (!Array.isArray(list)) return null;
  for (const f of list.map(obj)) {
    if (f.kind !== 'bpf') continue;
    const insns = obj(obj(f.options).bytecode).insns;
    if (!Array.isArray(insns)) continue;
    const jge = insns.map(obj).find((i) => i.code === 53);
    const k = numOr(jge?.k);
    if (k !== null) return r2((k / 2 ** 32) * 100);
  }
  return null;
}

export function parseLink(out: Out | undefined): LinkState | null {
  const list = json(out);
  if (!Array.isArray(list) || !list.length) return null;
  const flags = obj(list[0]).flags;
  return Array.isArray(flags) && flags.includes('UP') ? 'up' : 'down';
}

export interface ObservedImpairment {
  toContainer: ImpairmentSpec;
  fromContainer: ImpairmentSpec;
  /** The host end's admin state (null: the host end is missing). */
  link: LinkState | null;
}

export function parseAttachmentImpairment(outs: Record<string, Out>): ObservedImpairment {
  const loss = parseLossTable(outs.innerNft);
  const to = parseQdiscs(outs.hostQdisc);
  const from = parseQdiscs(outs.innerQdisc);
  const dropped = parseDropFilter(outs.innerFilter);
  if (dropped) from.lossPercent = dropped;
  if (loss.has('to_container')) to.lossPercent = loss.get('to_container')!;
  if (loss.has('from_container')) from.lossPercent = loss.get('from_container')!;
  return { toContainer: normalizeSpec(to), fromContainer: normalizeSpec(from), link: parseLink(outs.hostLink) };
}

export function parseTunnelEndImpairment(outs: Record<string, Out>): { spec: ImpairmentSpec; link: LinkState | null } {
  const spec = parseQdiscs(outs.qdisc);
  const loss = parseLossTable(outs.nft).get('to_remote');
  if (loss) spec.lossPercent = loss;
  return { spec: normalizeSpec(spec), link: parseLink(outs.link) };
}

/** Drift in the shared shape; specs compared with their keys in one order. */
export function impairmentDrift(pairs: { field: string; desired: unknown; actual: unknown }[]): DriftItem[] {
  const sorted = (v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v;
  return diffFields(pairs.map((p) => ({ field: p.field, desired: sorted(p.desired), actual: sorted(p.actual) })));
}

/** An OVS bridge's OpenFlow ports and their config (read-only). */
export const ovsPortShow = (bridge: string) => ['ovs-ofctl', '--timeout=10', 'show', bridge];

/** `  2(gre-docker3): addr:…\n     config:     NO_RECV NO_FWD` → down; a port without them → up; missing → null. */
export function parseOvsPortLink(out: Out | undefined, port: string): LinkState | null {
  if (!out || out.exitCode !== 0) return null;
  const lines = out.stdout.split('\n');
  const at = lines.findIndex((l) => new RegExp(`^\\s*\\d+\\(${port.replace(/[.]/g, '\\.')}\\):`).test(l));
  if (at < 0) return null;
  const config = lines.slice(at + 1, at + 4).find((l) => /^\s*config:/.test(l)) ?? '';
  return /NO_FWD/.test(config) ? 'down' : 'up';
}
