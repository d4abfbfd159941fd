/** A topology as a picture: hosts as subgraphs/clusters, bridges in them, members on bridges, tunnels as edges. */
import type { Attachment, Bridge, Topology, Tunnel } from '../../sdk/src/index.js';

export interface TopologyParts {
  topology: Topology;
  bridges: Bridge[];
  tunnels: Tunnel[];
  attachments: Attachment[];
}

const target = (a: Attachment) =>
  'container' in a.target ? a.target.container : 'netns' in a.target ? `netns ${a.target.netns}` : `pid ${a.target.pid}`;
const bridgeLabel = (b: Bridge) => [`${b.name} (${b.type})`, ...b.addresses];
const memberLabel = (a: Attachment) => [`${target(a)} ${a.ifname ?? ''}`.trim(), ...a.addresses];
const tunnelLabel = (t: Tunnel) => `${t.type}${t.key !== null ? ` key ${t.key}` : ''} mtu ${t.overlayMtu}`;

function byHost(p: TopologyParts): Map<string, { bridges: Bridge[]; attachments: Attachment[] }> {
  const hosts = new Map<string, { bridges: Bridge[]; attachments: Attachment[] }>();
  const of = (h: string) => hosts.get(h) ?? hosts.set(h, { bridges: [], attachments: [] }).get(h)!;
  for (const h of p.topology.hosts) of(h);
  for (const b of p.bridges) of(b.hostName).bridges.push(b);
  for (const a of p.attachments) of(a.hostName).attachments.push(a);
  return hosts;
}

const mq = (lines: string[]) => `"${lines.map((l) => l.replace(/"/g, '#quot;')).join('<br/>')}"`;
const mid = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

export function mermaid(p: TopologyParts): string {
  const out = ['flowchart LR'];
  for (const [host, { bridges, attachments }] of byHost(p)) {
    out.push(`  subgraph ${mid(`host_${host}`)}[${mq([host])}]`);
    for (const b of bridges) out.push(`    ${mid(b.id)}[${mq(bridgeLabel(b))}]`);
    for (const a of attachments) out.push(`    ${mid(a.id)}([${mq(memberLabel(a))}])`);
    out.push('  end');
  }
  for (const a of p.attachments) out.push(`  ${mid(a.id)} --- ${mid(a.bridge)}`);
  for (const t of p.tunnels) {
    const [x, y] = t.endpoints;
    if (x && y) out.push(`  ${mid(x.bridge)} <==>|${mq([tunnelLabel(t)])}| ${mid(y.bridge)}`);
  }
  return out.join('\n');
}

const dq = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function dot(p: TopologyParts): string {
  const out = [`graph ${dq(p.topology.name)} {`, '  rankdir=LR;', '  node [fontname="sans-serif"];'];
  for (const [host, { bridges, attachments }] of byHost(p)) {
    out.push(`  subgraph ${dq(`cluster_${host}`)} {`, `    label=${dq(host)};`);
    for (const b of bridges) out.push(`    ${dq(b.id)} [shape=box, label=${dq(bridgeLabel(b).join('\n'))}];`);
    for (const a of attachments) out.push(`    ${dq(a.id)} [shape=ellipse, label=${dq(memberLabel(a).join('\n'))}];`);
    out.push('  }');
  }
  for (const a of p.attachments) out.push(`  ${dq(a.id)} -- ${dq(a.bridge)};`);
  for (const t of p.tunnels) {
    const [x, y] = t.endpoints;
    if (x && y) out.push(`  ${dq(x.bridge)} -- ${dq(y.bridge)} [style=bold, label=${dq(tunnelLabel(t))}];`);
  }
  out.push('}');
  return out.join('\n');
}
