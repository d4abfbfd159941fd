/**
 * The sandbox's network: the management bridge in the root namespace (reached over SSH),
 * the router namespace, and each host's links to both (the underlay runs through the router).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import type { HostRecord, ManifestWriter } from './manifest.js';
import { alive, must, readPid, run, sleep } from './run.js';

/** Shared between all sandboxes: serializes the choice of management subnets. */
const MGMT_LOCK = '/run/netplumb-sandbox-mgmt.lock';

export async function netnsId(name: string): Promise<string> {
  try {
    const st = await fs.stat(`/run/netns/${name}`);
    return `net:[${st.ino}]`;
  } catch {
    return '';
  }
}

export async function netnsExists(name: string): Promise<boolean> {
  return existsSync(`/run/netns/${name}`);
}

// ---------------------------------------------------------------------------
// IPv4 arithmetic

export function parseCidr(cidr: string): { ip: string; len: number; network: string } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const oct = m.slice(1, 5).map(Number);
  const len = Number(m[5]);
  if (oct.some((o) => o > 255) || len < 1 || len > 30) throw new Error(`bad IPv4 CIDR: ${cidr}`);
  const n = ipToInt(oct.join('.'));
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { ip: oct.join('.'), len, network: `${intToIp((n & mask) >>> 0)}/${len}` };
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
export function inNet(ip: string, network: string): boolean {
  const [base, lenS] = network.split('/');
  const len = Number(lenS);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(base!) & mask) >>> 0;
}
function overlaps(a: string, b: string): boolean {
  const [ab, al] = a.split('/');
  const [bb, bl] = b.split('/');
  const len = Math.min(Number(al), Number(bl));
  return inNet(ab!, `${bb}/${len}`);
}

// IPv6 (the optional IPv6 underlay): ipaddr.js does the arithmetic

export function parseCidr6(cidr: string): { ip: string; len: number; network: string } {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  if (addr.kind() !== 'ipv6') throw new Error(`not an IPv6 CIDR: ${cidr}`);
  if (len < 8 || len > 128) throw new Error(`bad IPv6 prefix length: ${cidr}`);
  const net = ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return { ip: addr.toString(), len, network: `${net.toString()}/${len}` };
}

export function inNet6(ip: string, network: string): boolean {
  const a = ipaddr.parse(ip);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).match(ipaddr.IPv6.parseCIDR(network));
}

// ---------------------------------------------------------------------------
// Management bridge

/** Subnets the management network must never use. */
const FORBIDDEN_MGMT = ['10.10.10.0/24', '192.168.50.0/24', '10.11.12.0/24', '172.16.0.0/12'];

/** 10.200.X.0/24 with X from a hash of the prefix; the next free X when taken. */
async function pickMgmtSubnet(prefix: string): Promise<string> {
  const h = createHash('sha256').update(`netplumb-sandbox:${prefix}`).digest();
  const start = h[0]!;
  const routes = JSON.parse((await must(['ip', '-j', 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string; type?: string }[];
  const addrs = JSON.parse((await must(['ip', '-j', '-4', 'addr', 'show'])) || '[]') as {
    addr_info?: { local?: string; prefixlen?: number }[];
  }[];
  const used: string[] = [];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || r.type === 'local' || r.type === 'broadcast') continue;
    used.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  }
  for (const a of addrs) for (const ai of a.addr_info ?? []) if (ai.local) used.push(`${ai.local}/${ai.prefixlen ?? 32}`);
  for (let i = 0; i < 256; i++) {
    const x = (start + i) % 256;
    const subnet = `10.200.${x}.0/24`;
    if (FORBIDDEN_MGMT.some((f) => overlaps(f, subnet))) continue;
    if (used.some((u) => overlaps(u, subnet))) continue;
    return subnet;
  }
  throw new Error('no free management subnet in 10.200.0.0/16');
}

/** A tiny cross-process lock (mkdir is atomic); a lock whose holder died is taken over. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = await readPid(path.join(dir, 'pid'));
      if (holder === undefined) {
        // Holder may be between mkdir and writing its pid: only stale if old.
        const st = await fs.stat(dir).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > 5000) await fs.rm(dir, { recursive: true, force: true });
      } else if (!(await alive(holder))) {
        await fs.rm(dir, { recursive: true, force: true });
      }
      if (Date.now() > deadline) throw new Error(`could not take lock ${dir}`);
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The management bridge in the root namespace (the one shared resource); gives each host its management address. */
export async function createMgmtBridge(w: ManifestWriter, hosts: HostRecord[], log: (s: string) => void): Promise<void> {
  const { prefix } = w.m;
  const bridge = `${prefix}mgmt`;
  await withLock(MGMT_LOCK, async () => {
    const subnet = await pickMgmtSubnet(prefix);
    const base = ipToInt(subnet.split('/')[0]!);
    const bridgeIp = intToIp(base + 1);
    for (const h of hosts) h.mgmtIp = intToIp(base + 10 + h.index);
    await w.record((m) => {
      m.mgmt = { bridge, subnet, bridgeIp };
      m.rootLinks.push(bridge);
      m.hosts = hosts;
    });
    log(`management bridge ${bridge} ${bridgeIp}/24`);
    await must(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    await must(['ip', 'addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
    await must(['ip', 'link', 'set', bridge, 'up']);
  });
  await run(['sysctl', '-qw', `net.ipv6.conf.${bridge}.disable_ipv6=1`]);
}

// ---------------------------------------------------------------------------
// Router and underlay

/** The router namespace, and what each router-side underlay interface gets there. */
export interface RouterPlan {
  router: string;
  routerPortMaster: Map<string, string>; // router-side ifname -> bridge
  routerAddr: Map<string, string>; // router-side ifname -> gw cidr
  routerAddr6: Map<string, string>; // router-side ifname -> IPv6 gw cidr (IPv6 underlay only)
}

/** The router namespace: the underlay gateways, and a bridge per subnet that several hosts share. */
export async function createRouter(w: ManifestWriter, hosts: HostRecord[], router: string, log: (s: string) => void): Promise<RouterPlan> {
  const { prefix } = w.m;
  await w.record((m) => {
    m.routerNetns = router;
    m.netns.push(router);
  });
  const ipv6 = hosts.some((h) => h.underlayCidr6);
  log(`router namespace ${router}${ipv6 ? ' (IPv4 and IPv6)' : ''}`);
  await must(['ip', 'netns', 'add', router]);
  // IPv6 stays off unless a host asked for an IPv6 underlay; then the router forwards it too (its own namespace:
  // no route there leads out of the machine).
  const v6 = ipv6
    ? ['net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', 'net.ipv6.conf.all.forwarding=1']
    : ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
  await must(['ip', 'netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', ...v6]);
  await must(['ip', '-n', router, 'link', 'set', 'lo', 'up']);
  // Hosts sharing a subnet share a Linux bridge in the router that holds the gateway.
  const groups = new Map<string, HostRecord[]>();
  for (const h of hosts) {
    const key = `${h.underlayGw}/${parseCidr(h.underlayCidr).len}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const routerPortMaster = new Map<string, string>(); // router-side ifname -> bridge
  const routerAddr = new Map<string, string>(); // router-side ifname -> gw cidr
  const routerAddr6 = new Map<string, string>();
  const gw6Cidr = (h: HostRecord) => (h.underlayCidr6 ? `${h.underlayGw6}/${parseCidr6(h.underlayCidr6).len}` : undefined);
  let gi = 0;
  for (const [gwCidr, members] of groups) {
    const gw6 = [...new Set(members.map(gw6Cidr).filter((c) => c !== undefined))];
    if (members.length === 1) {
      routerAddr.set(members[0]!.underlayIfRouter, gwCidr);
      if (gw6[0]) routerAddr6.set(members[0]!.underlayIfRouter, gw6[0]);
    } else {
      const rb = `${prefix}s${gi++}`;
      await w.record((m) => m.routerBridges.push(rb));
      await must(['ip', '-n', router, 'link', 'add', rb, 'type', 'bridge']);
      await must(['ip', '-n', router, 'addr', 'add', gwCidr, 'dev', rb]);
      for (const c of gw6) await must(['ip', '-n', router, 'addr', 'add', c, 'dev', rb, 'nodad']);
      await must(['ip', '-n', router, 'link', 'set', rb, 'up']);
      for (const h of members) routerPortMaster.set(h.underlayIfRouter, rb);
    }
  }
  return { router, routerPortMaster, routerAddr, routerAddr6 };
}

/** A host's two links: management (to the bridge in the root namespace) and underlay (to the router). */
export async function linkHost(w: ManifestWriter, h: HostRecord, ctx: RouterPlan): Promise<void> {
  const ns = h.netns;
  const nsx = ['ip', 'netns', 'exec', ns];
  const bridge = w.m.mgmt!.bridge;

  // management link (root end on the bridge, other end inside the namespace)
  await w.record((m) => m.rootLinks.push(h.mgmtIf));
  await must(['ip', 'link', 'add', h.mgmtIf, 'type', 'veth', 'peer', 'name', h.mgmtIfNs, 'netns', ns]);
  await must(['ip', 'link', 'set', h.mgmtIf, 'master', bridge, 'up']);
  await must(['ip', '-n', ns, 'addr', 'add', `${h.mgmtIp}/24`, 'dev', h.mgmtIfNs]);
  await must(['ip', '-n', ns, 'link', 'set', h.mgmtIfNs, 'up']);

  // underlay link to the router; both ends live in namespaces (die with them)
  await must(['ip', '-n', ctx.router, 'link', 'add', h.underlayIfRouter, 'type', 'veth', 'peer', 'name', h.underlayIfHost, 'netns', ns]);
  const rMaster = ctx.routerPortMaster.get(h.underlayIfRouter);
  if (rMaster) await must(['ip', '-n', ctx.router, 'link', 'set', h.underlayIfRouter, 'master', rMaster]);
  const rAddr = ctx.routerAddr.get(h.underlayIfRouter);
  if (rAddr) await must(['ip', '-n', ctx.router, 'addr', 'add', rAddr, 'dev', h.underlayIfRouter]);
  const rAddr6 = ctx.routerAddr6.get(h.underlayIfRouter);
  if (rAddr6) await must(['ip', '-n', ctx.router, 'addr', 'add', rAddr6, 'dev', h.underlayIfRouter, 'nodad']);
  // No transmit checksum offload on the underlay veths: OVS reads them with AF_PACKET
  // (userspace datapath) and would otherwise see packets with unfinished checksums.
  await must(['ip', 'netns', 'exec', ctx.router, 'ethtool', '-K', h.underlayIfRouter, 'tx', 'off'], { timeoutMs: 10_000 });
  await must(['ip', '-n', ctx.router, 'link', 'set', h.underlayIfRouter, 'up']);
  await must([...nsx, 'ethtool', '-K', h.underlayIfHost, 'tx', 'off'], { timeoutMs: 10_000 });
  await must([...nsx, 'sysctl', '-qw', `net.ipv6.conf.${h.underlayIfHost}.disable_ipv6=1`, `net.ipv6.conf.${h.mgmtIfNs}.disable_ipv6=1`]);
  await must(['ip', '-n', ns, 'link', 'set', h.underlayIfHost, 'up']);
}

/** The underlay works: every host reaches every other host through the router. */
export async function checkUnderlay(hosts: HostRecord[], log: (s: string) => void): Promise<void> {
  log('checking the underlay');
  await Promise.all(
    hosts.map(async (h) => {
      const targets = hosts.filter((o) => o !== h).map((o) => o.underlayIp);
      if (targets.length === 0) targets.push(h.underlayGw);
      // IPv6 between the hosts that have it (to its gateway when it is the only one)
      if (h.underlayIp6) {
        const v6 = hosts.filter((o) => o !== h && o.underlayIp6).map((o) => o.underlayIp6!);
        targets.push(...(v6.length ? v6 : [h.underlayGw6!]));
      }
      for (const t of targets) {
        // The first IPv6 packet waits for neighbour discovery on both hops: give it a second try.
        const r = await run(['ip', 'netns', 'exec', h.netns, 'ping', '-c1', '-W2', '-q', t], { timeoutMs: 10_000 }).then((r1) =>
          r1.exitCode === 0 ? r1 : run(['ip', 'netns', 'exec', h.netns, 'ping', '-c1', '-W3', '-q', t], { timeoutMs: 10_000 }),
        );
        if (r.exitCode !== 0) throw new Error(`${h.name}: underlay ping to ${t} failed: ${r.stdout}${r.stderr}`);
      }
    }),
  );
}
