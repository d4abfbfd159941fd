/**
 * The network as a graph, shared by every face that draws it: the CLI (`netplumb graph`), the API's exports
 * (`GET /graph`, `GET /topologies/{name}/graph`) and the web page at /ui (bundled for the browser). Pure: no Node
 * or DOM APIs, so the same code runs on both sides. Inputs are the API views (structurally: the SDK's types fit).
 */

export interface GraphHost {
  id?: string;
  name: string;
  tunnelIp?: string | null;
  state?: string;
}
export interface GraphBridge {
  id: string;
  hostName: string;
  name: string;
  type: string;
  addresses: string[];
  mtu?: number | null;
  overlayMtu?: number | null;
  state?: string;
}
export interface GraphTunnel {
  id: string;
  type: string;
  key: number | null;
  overlayMtu: number;
  endpoints: { bridge: string; hostName: string; portName?: string }[];
  state?: string;
}
export interface GraphAttachment {
  id: string;
  /** Null: a macvlan / ipvlan / phys attachment (on the host's NIC `parent`, drawn without an edge). */
  bridge: string | null;
  type?: string;
  parent?: { ref: string; name: string | null } | null;
  hostName: string;
  target: { container: string } | { netns: string } | { pid: number };
  ifname: string | null;
  addresses: string[];
  vlan?: number | null;
  state?: string;
}

/** What observe found for one resource, as the page and the exports draw it. */
export interface GraphDrift {
  /** missing: gone from the host; drift: there but different; ok: as wanted; unavailable: this kind cannot be observed here. */
  status: 'ok' | 'drift' | 'missing' | 'unavailable';
  /** One line per differing field ("mtu: want 1450, host has 1500"). */
  details: string[];
  /** Tunnels: which ends (by index) are missing on their host. */
  missingEnds?: number[];
}

export interface GraphInput {
  /** A title for the picture (the topology's name, or "netplumb"). */
  title: string;
  hosts: GraphHost[];
  bridges: GraphBridge[];
  tunnels: GraphTunnel[];
  attachments: GraphAttachment[];
  /** By resource id. */
  drift?: Record<string, GraphDrift>;
}

// ---- labels (the same words in every format)

export const targetLabel = (a: GraphAttachment): string =>
  'container' in a.target ? a.target.container : 'netns' in a.target ? `netns ${a.target.netns}` : `pid ${a.target.pid}`;
export const bridgeLines = (b: GraphBridge): string[] => [`${b.name} (${b.type})`, ...b.addresses];
export const attachmentLines = (a: GraphAttachment): string[] => [
  `${targetLabel(a)} ${a.ifname ?? ''}`.trim(),
  ...a.addresses,
  ...(a.bridge === null && a.parent ? [`${a.type ?? 'nic'} on ${a.parent.name ?? a.parent.ref}`] : []),
  ...(a.vlan ? [`vlan ${a.vlan}`] : []),
];
/** gre key 7 mtu 1458; vxlan vni 42 mtu 1450 */
export const tunnelLabel = (t: GraphTunnel): string =>
  `${t.type}${t.key !== null ? ` ${t.type === 'gre' ? 'key' : 'vni'} ${t.key}` : ''} mtu ${t.overlayMtu}`;
export const hostLines = (h: GraphHost): string[] => [h.name, ...(h.tunnelIp ? [h.tunnelIp] : [])];

/** Hosts in a stable order, each with the bridges and attachments on it (hosts named only by resources included). */
export function byHost(g: GraphInput): { host: GraphHost; bridges: GraphBridge[]; attachments: GraphAttachment[] }[] {
  const hosts = new Map<string, { host: GraphHost; bridges: GraphBridge[]; attachments: GraphAttachment[] }>();
  const of = (name: string, h?: GraphHost) => {
    let e = hosts.get(name);
    if (!e) hosts.set(name, (e = { host: h ?? { name }, bridges: [], attachments: [] }));
    return e;
  };
  for (const h of g.hosts) of(h.name, h);
  for (const b of g.bridges) of(b.hostName).bridges.push(b);
  for (const a of g.attachments) of(a.hostName).attachments.push(a);
  return [...hosts.values()];
}

/** Every name the picture must show: hosts, bridges, tunnel ports, attachment targets (tests check exports by it). */
export function resourceNames(g: GraphInput): string[] {
  return [
    ...g.hosts.map((h) => h.name),
    ...g.bridges.map((b) => b.name),
    ...g.tunnels.flatMap((t) => t.endpoints.map((e) => e.portName).filter((p): p is string => !!p)),
    ...g.attachments.map(targetLabel),
  ];
}

// ---- drift, from `?observe=true` answers

interface DriftItemLike {
  field: string;
  desired?: unknown;
  actual?: unknown;
}
interface ObservedLike {
  drift?: DriftItemLike[];
  exists?: boolean;
  endpoints?: { exists?: boolean; hostName?: string; portName?: string; drift?: DriftItemLike[] }[];
}

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));
const detail = (d: DriftItemLike) =>
  /(^|:)exists$/.test(d.field) && d.actual === false
    ? `${d.field.replace(/:?exists$/, '') || 'it'}: missing on the host`
    : `${d.field}: want ${show(d.desired)}, host has ${show(d.actual)}`;
const isMissing = (d: DriftItemLike) => /(^|:)exists$/.test(d.field) && d.actual === false;

/**
 * The drift of one resource from its view with `observed` (any kind: the one drift shape every kind shares). A view
 * without `observed` means the service cannot observe that kind: `unavailable`, not an error.
 */
export function driftOf(view: { observed?: ObservedLike | null } | null | undefined): GraphDrift {
  const o = view?.observed;
  if (!o) return { status: 'unavailable', details: ['observe is not available for this kind of resource on this service'] };
  const items = o.drift ?? [];
  const missingEnds = (o.endpoints ?? []).flatMap((e, i) => (e.exists === false ? [i] : []));
  const wholeMissing = o.exists === false || (items.length > 0 && items.every(isMissing) && !o.endpoints);
  const status: GraphDrift['status'] =
    wholeMissing || (o.endpoints && missingEnds.length === o.endpoints.length && o.endpoints.length > 0)
      ? 'missing'
      : items.length || missingEnds.length
        ? 'drift'
        : 'ok';
  return { status, details: items.map(detail), ...(o.endpoints ? { missingEnds } : {}) };
}
