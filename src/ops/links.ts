/** Reading `ip -j` output: shared by bridges, attachments and tunnels. */
export interface LinkInfo {
  name: string;
  up: boolean;
  mtu: number | null;
  alias: string | null;
  kind: string | null;
  master: string | null;
  /** `ip -d`: the device's own settings (linkinfo.info_data: remote, local, id, port, …). */
  infoData: Record<string, unknown>;
  /** Operational state (UP, DOWN, UNKNOWN, LOWERLAYERDOWN). */
  operstate: string | null;
  /** Addresses we manage: global (and site) scope; IPv6 link-local is the kernel's own. */
  addresses: string[];
}

interface IpJsonLink {
  ifname: string;
  flags?: string[];
  mtu?: number;
  ifalias?: string;
  master?: string;
  operstate?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

export function parseIpJson(stdout: string): LinkInfo[] {
  let arr: IpJsonLink[];
  try {
    arr = JSON.parse(stdout || '[]') as IpJsonLink[];
  } catch {
    return [];
  }
  if (!Array.isArray(arr)) return [];
  return arr.map((l) => ({
    name: l.ifname,
    up: (l.flags ?? []).includes('UP'),
    mtu: l.mtu ?? null,
    alias: l.ifalias ?? null,
    kind: l.linkinfo?.info_kind ?? null,
    master: l.master ?? null,
    infoData: l.linkinfo?.info_data ?? {},
    operstate: l.operstate ?? null,
    addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => `${a.local}/${a.prefixlen}`),
  }));
}

/** `netplumb:<id>` in a Linux alias → id */
export function ownerFromAlias(alias: string | null): string | null {
  const m = /^netplumb:(\S+)$/.exec(alias ?? '');
  return m ? m[1]! : null;
}

export const ipLinkShow = (dev: string): string[] => ['ip', '-j', '-d', 'addr', 'show', 'dev', dev];

/** Parses one cell of `ovs-vsctl --format=json` (["map",[[k,v]]], ["set",[]], plain values). */
export function ovsCell(v: unknown): unknown {
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string') {
    if (v[0] === 'map') return Object.fromEntries((v[1] as [string, unknown][]).map(([k, x]) => [k, ovsCell(x)]));
    if (v[0] === 'set') return (v[1] as unknown[]).map(ovsCell);
    if (v[0] === 'uuid' || v[0] === 'named-uuid') return v[1];
  }
  return v;
}

/** Rows of `ovs-vsctl --format=json list ...` as objects. */
export function ovsRows(stdout: string): Record<string, unknown>[] {
  try {
    const t = JSON.parse(stdout) as { headings: string[]; data: unknown[][] };
    return t.data.map((row) => Object.fromEntries(t.headings.map((h, i) => [h, ovsCell(row[i])])));
  } catch {
    return [];
  }
}
