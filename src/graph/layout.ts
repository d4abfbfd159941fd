/**
 * Where everything goes: ELK's layered layout (elkjs, the Eclipse Layout Kernel compiled to JavaScript) over hosts
 * as compound nodes, bridges and attachments inside them, tunnels as edges between bridges on different hosts.
 * The same code runs in Node (the SVG export) and in the browser (the /ui page), so both draw the same picture.
 */
import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ELK, ElkEdgeSection, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { attachmentLines, bridgeLines, byHost, hostLines, tunnelLabel, type GraphDrift, type GraphInput } from './model.js';

export const FONT_SIZE = 12;
export const LINE_HEIGHT = 16;
/** The drawing uses a monospace font, so text width is known without measuring: 12 px ≈ 7.3 px per character. */
export const CHAR_WIDTH = 7.3;
const PAD = 10;

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
export type ItemKind = 'host' | 'bridge' | 'attachment' | 'tunnel';

export interface SceneBox extends Box {
  id: string;
  kind: Exclude<ItemKind, 'tunnel'>;
  /** The resource's name, as a screen reader reads it. */
  name: string;
  lines: string[];
  state: string | null;
  drift: GraphDrift | null;
}
export interface SceneEdge {
  id: string;
  kind: 'tunnel' | 'attachment';
  name: string;
  points: { x: number; y: number }[];
  label: (Box & { lines: string[] }) | null;
  /** Tunnels: the port name at each end (start, end) and whether the host lacks it. */
  ends: { portName: string; hostName: string; missing: boolean }[];
  state: string | null;
  drift: GraphDrift | null;
}
export interface Scene {
  title: string;
  width: number;
  height: number;
  hosts: SceneBox[];
  nodes: SceneBox[];
  edges: SceneEdge[];
}

export const textWidth = (lines: string[]) => Math.ceil(Math.max(0, ...lines.map((l) => l.length)) * CHAR_WIDTH);
const size = (lines: string[]) => ({ width: textWidth(lines) + 2 * PAD, height: lines.length * LINE_HEIGHT + PAD });
const withState = (lines: string[], state: string | undefined) => (state && state !== 'ready' ? [...lines, `(${state})`] : lines);

let shared: ELK | null = null;
/** The module is CommonJS: Node and esbuild hand over module.exports (the constructor), which also has itself as `default`. */
const newElk = (): ELK => new elkBundled.default();

/** Lays the network out. Empty input gives an empty scene (a picture with just its title). */
export async function layoutGraph(g: GraphInput, elk: ELK = (shared ??= newElk())): Promise<Scene> {
  const drift = g.drift ?? {};
  const groups = byHost(g);
  const bridgeIds = new Set(g.bridges.map((b) => b.id));
  // Attachments on the side of their bridge away from its tunnels: a host whose bridges are mostly tunnel targets
  // gets its attachments to the right (edges bridge → attachment), others to the left.
  const targetScore = new Map<string, number>();
  for (const t of g.tunnels) {
    const [a, b] = t.endpoints;
    if (a) targetScore.set(a.hostName, (targetScore.get(a.hostName) ?? 0) - 1);
    if (b) targetScore.set(b.hostName, (targetScore.get(b.hostName) ?? 0) + 1);
  }
  const lines = new Map<string, string[]>();
  const children: ElkNode[] = groups.map(({ host, bridges, attachments }) => {
    const hl = withState(hostLines(host), host.state);
    lines.set(`host:${host.name}`, hl);
    const inner: ElkNode[] = [
      ...bridges.map((b) => {
        const l = withState(bridgeLines(b), b.state);
        lines.set(b.id, l);
        return { id: b.id, ...size(l) };
      }),
      ...attachments.map((a) => {
        const l = withState(attachmentLines(a), a.state);
        lines.set(a.id, l);
        return { id: a.id, ...size(l) };
      }),
    ];
    const top = hl.length * LINE_HEIGHT + 2 * PAD;
    return {
      id: `host:${host.name}`,
      layoutOptions: { 'elk.padding': `[top=${top},left=${PAD + 4},bottom=${PAD + 4},right=${PAD + 4}]` },
      children: inner,
      // An empty host still shows its name.
      ...(inner.length ? {} : { width: textWidth(hl) + 2 * PAD, height: top + PAD }),
    };
  });
  const edges: ElkExtendedEdge[] = [];
  for (const a of g.attachments) {
    const bridge = a.bridge;
    if (bridge === null || !bridgeIds.has(bridge)) continue;
    const right = (targetScore.get(a.hostName) ?? 0) > 0;
    edges.push({ id: `edge:${a.id}`, sources: [right ? bridge : a.id], targets: [right ? a.id : bridge] });
  }
  for (const t of g.tunnels) {
    const [x, y] = t.endpoints;
    if (!x || !y || !bridgeIds.has(x.bridge) || !bridgeIds.has(y.bridge)) continue;
    const l = tunnelLines(t, drift[t.id]);
    lines.set(t.id, l);
    edges.push({ id: t.id, sources: [x.bridge], targets: [y.bridge], labels: [{ id: `label:${t.id}`, text: l.join('\n'), ...size(l) }] });
  }
  const root: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.edgeLabel': '6',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
    children,
    edges,
  };
  const out = await elk.layout(root);

  const scene: Scene = {
    title: g.title,
    width: Math.ceil(out.width ?? 0),
    height: Math.ceil(out.height ?? 0),
    hosts: [],
    nodes: [],
    edges: [],
  };
  const kindOf = new Map<string, { kind: 'bridge' | 'attachment'; name: string; state: string | null }>([
    ...g.bridges.map((b) => [b.id, { kind: 'bridge' as const, name: `bridge ${b.hostName}/${b.name}`, state: b.state ?? null }] as const),
    ...g.attachments.map(
      (a) =>
        [
          a.id,
          { kind: 'attachment' as const, name: `attachment ${lines.get(a.id)?.[0] ?? a.id} on ${a.hostName}`, state: a.state ?? null },
        ] as const,
    ),
  ]);
  groups.forEach(({ host }, i) => {
    const n = out.children?.[i];
    if (!n) return;
    scene.hosts.push({
      id: host.id ?? `host:${host.name}`,
      kind: 'host',
      name: `host ${host.name}`,
      lines: lines.get(`host:${host.name}`)!,
      state: host.state ?? null,
      drift: host.id ? (drift[host.id] ?? null) : null,
      ...box(n),
    });
    for (const c of n.children ?? []) {
      const k = kindOf.get(c.id);
      if (k) scene.nodes.push({ id: c.id, ...k, lines: lines.get(c.id)!, drift: drift[c.id] ?? null, ...box(c) });
    }
  });
  const tunnels = new Map(g.tunnels.map((t) => [t.id, t]));
  for (const e of out.edges ?? []) {
    const points = (e.sections ?? []).flatMap((s: ElkEdgeSection) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]);
    const t = tunnels.get(e.id);
    if (t) {
      const d = drift[t.id] ?? null;
      const lab = e.labels?.[0];
      scene.edges.push({
        id: t.id,
        kind: 'tunnel',
        name: `tunnel ${tunnelLabel(t)} between ${t.endpoints.map((x) => x.hostName).join(' and ')}`,
        points,
        label: lab ? { ...box(lab), lines: lines.get(t.id)! } : null,
        ends: t.endpoints.map((x, i) => ({ portName: x.portName ?? '', hostName: x.hostName, missing: !!d?.missingEnds?.includes(i) })),
        state: t.state ?? null,
        drift: d,
      });
    } else {
      const attId = e.id.slice('edge:'.length);
      scene.edges.push({ id: e.id, kind: 'attachment', name: '', points, label: null, ends: [], state: null, drift: drift[attId] ?? null });
    }
  }
  return scene;
}

function tunnelLines(t: GraphInput['tunnels'][number], d: GraphDrift | undefined): string[] {
  const l = withState([tunnelLabel(t)], t.state);
  const gone = (d?.missingEnds ?? []).map((i) => t.endpoints[i]?.hostName).filter(Boolean);
  if (gone.length) l.push(`end missing on ${gone.join(', ')}`);
  else if (d?.status === 'drift') l.push('drifted');
  return l;
}

const box = (n: { x?: number; y?: number; width?: number; height?: number }): Box => ({
  x: Math.round(n.x ?? 0),
  y: Math.round(n.y ?? 0),
  w: Math.round(n.width ?? 0),
  h: Math.round(n.height ?? 0),
});
