/** How results read: tables for people, JSON/YAML for scripts; problems as their title, detail and pointers. */
import { stringify } from 'yaml';
import type { ForeignProblem, Host, JobLogLine, Problem, Topology, TopologyPlan } from '../../sdk/src/index.js';
import type { OutputFormat } from './args.js';

export function render<T>(value: T, format: OutputFormat, table: (v: T) => string): string {
  if (format === 'json') return JSON.stringify(value, null, 2);
  if (format === 'yaml') return stringify(value).trimEnd();
  return table(value);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatPlan(plan: TopologyPlan): string {
  const lines = [`plan for ${plan.name}: ${plan.changes.length} change(s), ${plan.unchanged.length} unchanged`];
  if (plan.changes.length) {
    lines.push(
      columns(
        plan.changes.map((c) => [
          `  ${c.action}`,
          c.slot,
          `on ${c.hosts.join(',') || '-'}`,
          `disruption: ${c.disruption}`,
          [c.fields.length ? `fields ${c.fields.join(',')}` : '', c.affects.length ? `affects ${c.affects.join(' ')}` : '']
            .filter(Boolean)
            .join('; '),
        ]),
      ).replace(/ +$/gm, ''),
    );
  }
  if (plan.unchanged.length) lines.push(`  unchanged: ${plan.unchanged.join(' ')}`);
  return lines.join('\n');
}

export const isDisruptive = (plan: TopologyPlan) => plan.changes.some((c) => c.disruption !== 'none');

export function formatTopology(t: Topology): string {
  const a = t.allocations;
  const lines = [
    columns([
      ['name', t.name],
      ['state', `${t.state}${t.jobId ? ` (last job ${t.jobId})` : ''}`],
      ['hosts', t.hosts.join(', ') || '-'],
      ['updated', t.updatedAt],
    ]),
    '',
    columns([['RESOURCE', 'ID'], ...Object.entries(t.resources).map(([slot, id]) => [slot, id])]),
  ];
  const members = Object.entries(a.memberAddresses);
  if (members.length) {
    lines.push(
      '',
      columns([['MEMBER', 'ADDRESS', 'IFNAME', 'MAC'], ...members.map(([k, cidr]) => [k, cidr, a.ifnames[k] ?? '-', a.macs[k] ?? '-'])]),
    );
  }
  const nets = Object.keys(t.document.networks);
  if (nets.length) {
    lines.push(
      '',
      columns([
        ['NETWORK', 'BRIDGE', 'KEY/VNI', 'HOST ADDRESSES'],
        ...nets.map((n) => [
          n,
          a.bridgeNames[n] ?? '-',
          a.keys[n] !== undefined ? String(a.keys[n]) : '-',
          Object.entries(a.hostAddresses)
            .filter(([k]) => k.startsWith(`${n}/`))
            .map(([k, v]) => `${k.slice(n.length + 1)}=${v}`)
            .join(' ') || '-',
        ]),
      ]),
    );
  }
  if (t.observed) {
    const drift = t.observed.drift;
    lines.push('', drift.length ? `drift (observed ${t.observed.observedAt}):` : `no drift (observed ${t.observed.observedAt})`);
    for (const d of drift) lines.push(`  ${JSON.stringify(d)}`);
  }
  return lines.join('\n');
}

export function formatTopologyList(items: readonly Topology[]): string {
  if (!items.length) return 'no topologies';
  return columns([
    ['NAME', 'STATE', 'HOSTS', 'RESOURCES', 'LAST JOB', 'UPDATED'],
    ...items.map((t) => [t.name, t.state, t.hosts.join(',') || '-', String(Object.keys(t.resources).length), t.jobId ?? '-', t.updatedAt]),
  ]);
}

export function formatHosts(items: readonly Host[]): string {
  if (!items.length) return 'no hosts';
  return columns([
    ['NAME', 'EXECUTOR', 'TUNNEL IP', 'STATE', 'REACHABLE'],
    ...items.map((h) => [
      h.name,
      h.executor.kind === 'ssh' ? `ssh ${h.executor.user}@${h.executor.address}:${h.executor.port}` : 'local',
      h.tunnelIp ?? '-',
      h.state,
      h.facts ? (h.facts.reachable ? 'yes' : 'no') : '-',
    ]),
  ]);
}

export function formatLogLine(l: JobLogLine): string {
  const prefix = l.stream === 'cmd' ? '$ ' : l.stream === 'error' ? 'error: ' : l.stream === 'stderr' ? '! ' : '';
  return `${l.ts} ${l.host ?? '-'} ${prefix}${l.text}`;
}

/** A problem as people read it: title (status), detail, then each pointer with its detail; the job when one failed. */
export function formatProblem(p: Problem | ForeignProblem): string {
  const lines = [`error: ${p.title}${p.status ? ` (${p.status})` : ''}${p.detail ? `: ${p.detail}` : ''}`];
  if (p.type === 'about:blank') return lines.join('\n');
  for (const e of p.errors ?? []) lines.push(`  ${e.pointer || '/'}: ${e.detail}`);
  if (p.retryAfter !== undefined) lines.push(`  try again in ${p.retryAfter} s`);
  if (p.jobId)
    lines.push(
      p.jobStatus ? `  job: ${p.jobId} ${p.jobStatus} (netplumb logs ${p.jobId})` : `  job: ${p.jobId} (netplumb logs ${p.jobId})`,
    );
  return lines.join('\n');
}
