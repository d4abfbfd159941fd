/**
 * Native batching across resources: when one plan makes many attachments on a host (a topology), their host-side
 * `ip -batch` inputs become one `ip -batch`, and their OVS port transactions one `ovs-vsctl` transaction. The result
 * and the undo are those of the separate steps: each member's own order is kept (its veth before its port before its
 * inside), and the merged undo removes every piece (ip -force goes on past what was never made).
 */
import type { Step } from './plan.js';

const VSCTL = ['ovs-vsctl', '--timeout=10'];

function mergeIpBatch(group: Step[]): Step {
  const first = group[0]!;
  const undoLines = group.flatMap((s) => (s.undo ? [s.undo.slice(1).join(' ')] : []));
  return {
    host: first.host,
    description: `${group.length} veth pairs, marked and up (one ip -batch)`,
    argv: ['ip', '-batch', '-'],
    stdin: group.map((s) => s.stdin ?? '').join(''),
    ...(undoLines.length ? { undo: ['ip', '-force', '-batch', '-'], undoStdin: undoLines.join('\n') + '\n', undoWhenFailed: true } : {}),
  };
}

function mergeVsctl(group: Step[]): Step {
  const first = group[0]!;
  const join = (parts: string[][]) => parts.flatMap((p, i) => (i ? ['--', ...p] : p));
  const undos = group.flatMap((s) => (s.undo ? [s.undo.slice(VSCTL.length)] : []));
  return {
    host: first.host,
    description: `${group.length} OVS ports (one ovs-vsctl transaction)`,
    argv: [...VSCTL, ...join(group.map((s) => s.argv.slice(VSCTL.length)))],
    ...(undos.length ? { undo: [...VSCTL, ...join(undos)] } : {}),
  };
}

function mergeIpDel(group: Step[]): Step {
  return {
    host: group[0]!.host,
    description: `delete ${group.length} links (one ip -batch)`,
    argv: ['ip', '-force', '-batch', '-'],
    stdin: group.map((s) => s.argv.slice(1).join(' ') + '\n').join(''),
  };
}

/** Merges each host's mergeable steps (two or more of a kind) into one, placed where the first of them stood. */
export function coalesce(steps: readonly Step[]): Step[] {
  const groups = new Map<string, Step[]>();
  for (const s of steps) if (s.merge) groups.set(`${s.host}|${s.merge}`, [...(groups.get(`${s.host}|${s.merge}`) ?? []), s]);
  const out: Step[] = [];
  for (const s of steps) {
    if (!s.merge) {
      out.push(s);
      continue;
    }
    const group = groups.get(`${s.host}|${s.merge}`)!;
    if (group.length < 2) out.push(s);
    else if (group[0] === s)
      out.push(s.merge === 'ip-batch' ? mergeIpBatch(group) : s.merge === 'ip-del' ? mergeIpDel(group) : mergeVsctl(group));
  }
  return out;
}
