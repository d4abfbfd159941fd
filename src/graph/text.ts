/** The network as text pictures: Mermaid (flowchart) and Graphviz DOT. Hosts are subgraphs/clusters, bridges in them, attachments on bridges, tunnels as edges. */
import { attachmentLines, bridgeLines, byHost, hostLines, tunnelLabel, type GraphInput } from './model.js';

const mq = (lines: string[]) => `"${lines.map((l) => l.replace(/"/g, '#quot;')).join('<br/>')}"`;
const mid = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

export function mermaid(g: GraphInput): string {
  const out = ['flowchart LR'];
  const marked: Record<'missing' | 'drift', string[]> = { missing: [], drift: [] };
  const mark = (id: string) => {
    const s = g.drift?.[id]?.status;
    if (s === 'missing' || s === 'drift') marked[s].push(mid(id));
  };
  for (const { host, bridges, attachments } of byHost(g)) {
    out.push(`  subgraph ${mid(`host_${host.name}`)}[${mq(hostLines(host))}]`);
    for (const b of bridges) {
      out.push(`    ${mid(b.id)}[${mq(bridgeLines(b))}]`);
      mark(b.id);
    }
    for (const a of attachments) {
      out.push(`    ${mid(a.id)}([${mq(attachmentLines(a))}])`);
      mark(a.id);
    }
    out.push('  end');
  }
  for (const a of g.attachments) if (a.bridge) out.push(`  ${mid(a.id)} --- ${mid(a.bridge)}`);
  g.tunnels.forEach((t) => {
    const [x, y] = t.endpoints;
    if (!x || !y) return;
    const d = g.drift?.[t.id];
    const gone = (d?.missingEnds ?? []).map((i) => t.endpoints[i]?.hostName).filter(Boolean);
    const extra = gone.length
      ? [`MISSING on ${gone.join(', ')}`]
      : d && d.status !== 'ok' && d.status !== 'unavailable'
        ? [d.status === 'missing' ? 'MISSING' : 'DRIFT']
        : [];
    out.push(`  ${mid(x.bridge)} <==>|${mq([tunnelLabel(t), ...extra])}| ${mid(y.bridge)}`);
  });
  if (marked.missing.length)
    out.push('  classDef missing stroke:#c00,stroke-width:2px,stroke-dasharray:5 3', `  class ${marked.missing.join(',')} missing`);
  if (marked.drift.length) out.push('  classDef drift stroke:#d80,stroke-width:2px', `  class ${marked.drift.join(',')} drift`);
  return out.join('\n');
}

const dq = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

function dotStyle(g: GraphInput, id: string): string {
  const s = g.drift?.[id]?.status;
  return s === 'missing' ? ', style=dashed, color=red' : s === 'drift' ? ', color=orange' : '';
}

export function dot(g: GraphInput): string {
  const out = [`graph ${dq(g.title)} {`, '  rankdir=LR;', '  node [fontname="sans-serif"];'];
  for (const { host, bridges, attachments } of byHost(g)) {
    out.push(`  subgraph ${dq(`cluster_${host.name}`)} {`, `    label=${dq(hostLines(host).join('\n'))};`);
    for (const b of bridges) out.push(`    ${dq(b.id)} [shape=box, label=${dq(bridgeLines(b).join('\n'))}${dotStyle(g, b.id)}];`);
    for (const a of attachments)
      out.push(`    ${dq(a.id)} [shape=ellipse, label=${dq(attachmentLines(a).join('\n'))}${dotStyle(g, a.id)}];`);
    out.push('  }');
  }
  for (const a of g.attachments) if (a.bridge) out.push(`  ${dq(a.id)} -- ${dq(a.bridge)};`);
  for (const t of g.tunnels) {
    const [x, y] = t.endpoints;
    if (x && y) out.push(`  ${dq(x.bridge)} -- ${dq(y.bridge)} [style=bold, label=${dq(tunnelLabel(t))}${dotStyle(g, t.id)}];`);
  }
  out.push('}');
  return out.join('\n');
}
