/**
 * The sandbox testbed: several simulated Docker hosts on this one machine, each a
 * network namespace with its own Open vSwitch (userspace datapath), dockerd and sshd,
 * joined by an underlay through a router namespace and reachable over SSH from the
 * root namespace through a management bridge. See /work/shared/TESTBED.md.
 *
 * Everything it makes carries the prefix (namespaces `${prefix}-<host>`, interfaces
 * `${prefix}…`, state under `<baseDir>`), and is written to a manifest on disk *before*
 * it is made, so `down(prefix)` removes exactly that, also after a crash.
 *
 * No shell anywhere: every command is an argv run with execFile/spawn.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

// ---------------------------------------------------------------------------
// Public API

export interface SandboxHostSpec {
  name: string;
  underlayCidr: string;
  underlayGw: string;
}

export interface SandboxHost {
  name: string;
  netns: string;
  mgmtIp: string;
  sshPort: number;
  underlayIp: string;
  stateDir: string;
  ovsRundir: string;
  dockerSocket: string;
  hostKeySha256: string;
  /** `ssh-ed25519 AAAA…` — the host's public key, for a known_hosts line (addition to the brief). */
  hostKeyPub: string;
  sshdLog: string;
  sshdPidFile: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  prefix: string;
  stateDir: string;
  clientKeyPath: string;
  routerNetns: string;
  routerIfaces: Record<string, string>;
  hosts: SandboxHost[];
  host(name: string): SandboxHost;
  exec(hostName: string, argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  startWeb(hostName: string, containerName: string, n: number): Promise<number>;
  stopSshd(hostName: string): Promise<void>;
  startSshd(hostName: string): Promise<void>;
  down(): Promise<void>;
}

export interface UpOptions {
  prefix?: string;
  hosts?: SandboxHostSpec[];
  baseDir?: string;
  withDocker?: boolean;
  log?: (s: string) => void;
}

export const SEED_HOSTS: SandboxHostSpec[] = [
  { name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
  { name: 'docker3', underlayCidr: '192.168.50.101/24', underlayGw: '192.168.50.1' },
];

export const DEFAULT_PREFIX = 'np';
export const PACKAGES = [
  'openvswitch-switch',
  'docker.io',
  'openssh-server',
  'openssh-client',
  'ethtool',
  'busybox-static',
  'iproute2',
  'iputils-ping',
  'curl',
  'arping',
  'tcpdump',
];

/** Where a prefix's state lives unless baseDir is given. */
export function defaultBaseDir(prefix: string): string {
  return `/run/netplumb-sandbox/${prefix}`;
}

const PREFIX_RE = /^[a-z][a-z0-9]{0,5}$/;
const HOST_RE = /^[a-z][a-z0-9-]{0,15}$/;
const WEB_IMAGES = [1, 2];
const BUSYBOX_LINKS = ['sh', 'httpd', 'ip', 'ping', 'wget', 'cat', 'ls', 'sleep', 'ifconfig', 'route', 'nc', 'echo', 'hostname'];
/** Shared between all sandboxes: serializes the choice of management subnets. */
const MGMT_LOCK = '/run/netplumb-sandbox-mgmt.lock';
const SSHD = '/usr/sbin/sshd';
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

// ---------------------------------------------------------------------------
// Small process helpers

interface RunOpts {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function run(argv: string[], opts: RunOpts = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new TypeError('empty argv');
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env, encoding: 'utf8' },
      (err, stdout, stderr) => {
        let exitCode = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string };
          if (typeof e.code === 'number') exitCode = e.code;
          else if (e.killed || e.signal) {
            exitCode = 124;
            stderr = `${stderr}\n[timed out after ${opts.timeoutMs ?? 30_000} ms or killed by ${e.signal ?? '?'}]`;
          } else {
            exitCode = 127;
            stderr = `${stderr}\n${e.message}`;
          }
        }
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** run() that throws on a non-zero exit, with the argv and stderr in the message. */
async function must(argv: string[], opts: RunOpts = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.exitCode !== 0) {
    throw new Error(`command failed (exit ${r.exitCode}): ${argv.join(' ')}\n${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

async function readText(p: string): Promise<string | undefined> {
  try {
    return await fs.readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

async function tail(p: string, lines = 15): Promise<string> {
  const t = await readText(p);
  if (!t) return '';
  return t.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// Processes: identify ours exactly, kill only those

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
  netns: string;
  zombie: boolean;
}

async function procInfo(pid: number): Promise<ProcInfo | undefined> {
  try {
    const [cmdlineRaw, stat] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8'),
      fs.readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // stat: "pid (comm) S ppid ..." — comm may contain spaces and parens
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let netns = '';
    try {
      netns = await fs.readlink(`/proc/${pid}/ns/net`);
    } catch {
      /* kernel thread or gone */
    }
    return { pid, ppid: Number(after[1]), cmdline: cmdlineRaw.split('\0').join(' '), netns, zombie: after[0] === 'Z' || after[0] === 'X' };
  } catch {
    return undefined;
  }
}

async function alive(pid: number): Promise<boolean> {
  const p = await procInfo(pid);
  return !!p && !p.zombie;
}

async function readPid(file: string): Promise<number | undefined> {
  const t = await readText(file);
  const n = Number(t?.trim());
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

/** Signal pids, wait up to graceMs for them to go, then SIGKILL the rest and wait again. */
async function terminate(pids: number[], graceMs: number): Promise<void> {
  pids = [...new Set(pids)].filter((p) => p !== process.pid && p > 1);
  if (pids.length === 0) return;
  const send = (sig: NodeJS.Signals) => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  const allGone = async () => (await Promise.all(pids.map(alive))).every((a) => !a);
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await allGone()) return;
    await sleep(20);
  }
  send('SIGKILL');
  const d2 = Date.now() + 5000;
  while (Date.now() < d2) {
    if (await allGone()) return;
    await sleep(20);
  }
}

/**
 * Kill the process named in a pid file — only if it is alive and its command line
 * contains `match` (a path unique to this sandbox host), so a reused pid is never hit.
 */
async function killByPidFile(pidFile: string, match: string, graceMs: number): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  if (!pid) return undefined;
  const info = await procInfo(pid);
  if (!info || info.zombie || !info.cmdline.includes(match)) return undefined;
  await terminate([pid], graceMs);
  return pid;
}

/**
 * Every process that belongs to a sandbox namespace or host: its command line names
 * one of `dirs` (the daemons, containerd and its shims), or it lives in one of the
 * network namespaces (`netnsIds`, "net:[inode]") that the sandbox made (sshd sessions,
 * ovs daemons, whatever a test left there), and all their descendants (containers are
 * children of the shims). Never this process or its ancestors.
 */
async function findSandboxProcesses(dirs: string[], netnsIds: string[]): Promise<number[]> {
  const entries = await fs.readdir('/proc');
  const infos = (await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => procInfo(Number(e))))).filter(
    (p): p is ProcInfo => !!p,
  );
  const byPid = new Map(infos.map((p) => [p.pid, p]));
  const protectedPids = new Set<number>();
  for (let p: number | undefined = process.pid; p && p > 0 && !protectedPids.has(p); p = byPid.get(p)?.ppid) protectedPids.add(p);
  const ns = new Set(netnsIds.filter(Boolean));
  const matched = new Set<number>();
  for (const p of infos) {
    if (p.zombie) continue;
    if (dirs.some((d) => p.cmdline.includes(d)) || ns.has(p.netns)) matched.add(p.pid);
  }
  // descendants
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of infos) {
      if (!p.zombie && !matched.has(p.pid) && matched.has(p.ppid)) {
        matched.add(p.pid);
        grew = true;
      }
    }
  }
  return [...matched].filter((p) => !protectedPids.has(p));
}

async function netnsId(name: string): Promise<string> {
  try {
    const st = await fs.stat(`/run/netns/${name}`);
    return `net:[${st.ino}]`;
  } catch {
    return '';
  }
}

async function netnsExists(name: string): Promise<boolean> {
  return existsSync(`/run/netns/${name}`);
}

// ---------------------------------------------------------------------------
// Mounts

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const mi = (await readText('/proc/self/mountinfo')) ?? '';
  const out: string[] = [];
  for (const line of mi.split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    if (!mp) continue;
    const p = unescapeMount(mp);
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out;
}

/** Unmount everything mounted at or below dir, deepest first; lazily when busy. */
async function unmountUnder(dir: string): Promise<string[]> {
  for (let round = 0; round < 3; round++) {
    const mps = await mountsUnder(dir);
    if (mps.length === 0) return [];
    mps.sort((a, b) => b.length - a.length);
    for (const mp of mps) {
      const r = await run(['umount', mp], { timeoutMs: 10_000 });
      if (r.exitCode !== 0) await run(['umount', '-l', mp], { timeoutMs: 10_000 });
    }
  }
  return mountsUnder(dir);
}

// ---------------------------------------------------------------------------
// Manifest: what up made, written before each thing is made

interface HostRecord {
  name: string;
  index: number;
  netns: string;
  dir: string;
  mgmtIf: string; // root-namespace end, enslaved to the mgmt bridge
  mgmtIfNs: string; // end inside the host's namespace
  mgmtIp: string;
  underlayIfRouter: string;
  underlayIfHost: string;
  underlayCidr: string;
  underlayIp: string;
  underlayGw: string;
  withDocker: boolean;
  hostKeySha256?: string;
  hostKeyPub?: string;
}

interface DaemonRecord {
  host: string;
  kind: 'ovsdb-server' | 'ovs-vswitchd' | 'dockerd' | 'sshd';
  pidFiles: string[];
  /** A string the daemon's /proc/<pid>/cmdline must contain for us to kill it. */
  match: string;
}

interface Manifest {
  version: 1;
  prefix: string;
  stateDir: string;
  createdAt: string;
  creatorPid: number;
  complete: boolean;
  clientKeyPath: string;
  mgmt?: { bridge: string; subnet: string; bridgeIp: string };
  routerNetns?: string;
  routerBridges: string[];
  netns: string[];
  rootLinks: string[];
  /** /etc/netns/<ns> folders (files `ip netns exec` bind-mounts over /etc in that namespace) */
  etcDirs?: string[];
  hosts: HostRecord[];
  daemons: DaemonRecord[];
}

function manifestPath(stateDir: string): string {
  return path.join(stateDir, 'manifest.json');
}

async function readManifest(stateDir: string): Promise<Manifest | undefined> {
  const t = await readText(manifestPath(stateDir));
  if (!t) return undefined;
  try {
    return JSON.parse(t) as Manifest;
  } catch {
    return undefined;
  }
}

class ManifestWriter {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly m: Manifest) {}
  /** Apply a change and persist it (serialized; atomic rename). Resolves once on disk. */
  record(change: (m: Manifest) => void): Promise<void> {
    change(this.m);
    const snapshot = JSON.stringify(this.m, null, 2);
    const file = manifestPath(this.m.stateDir);
    this.chain = this.chain.then(async () => {
      const tmp = `${file}.tmp`;
      await fs.writeFile(tmp, snapshot);
      await fs.rename(tmp, file);
    });
    return this.chain;
  }
}

// ---------------------------------------------------------------------------
// Paths and names

function hostPaths(dir: string) {
  const ovs = path.join(dir, 'ovs');
  const docker = path.join(dir, 'docker');
  const ssh = path.join(dir, 'ssh');
  return {
    ovs,
    confDb: path.join(ovs, 'conf.db'),
    dbSock: path.join(ovs, 'db.sock'),
    ovsdbPid: path.join(ovs, 'ovsdb-server.pid'),
    ovsdbLog: path.join(ovs, 'ovsdb-server.log'),
    vswitchdPid: path.join(ovs, 'ovs-vswitchd.pid'),
    vswitchdLog: path.join(ovs, 'ovs-vswitchd.log'),
    docker,
    dockerSock: path.join(dir, 'docker.sock'),
    dockerRoot: path.join(docker, 'root'),
    dockerExec: path.join(docker, 'exec'),
    dockerPid: path.join(docker, 'dockerd.pid'),
    dockerLaunchPid: path.join(docker, 'launch.pid'),
    dockerLog: path.join(docker, 'dockerd.log'),
    dockerConfig: path.join(docker, 'daemon.json'),
    ssh,
    home: path.join(dir, 'home'),
    sshdConfig: path.join(ssh, 'sshd_config'),
    hostKey: path.join(ssh, 'host_key'),
    sshdPid: path.join(ssh, 'sshd.pid'),
    sshdLog: path.join(ssh, 'sshd.log'),
  };
}

function parseCidr(cidr: string): { ip: string; len: number; network: string } {
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
function inNet(ip: string, network: string): boolean {
  const [base, lenS] = network.split('/');
  const len = Number(lenS);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(base!) & mask) >>> 0);
}
function overlaps(a: string, b: string): boolean {
  const [ab, al] = a.split('/');
  const [bb, bl] = b.split('/');
  const len = Math.min(Number(al), Number(bl));
  return inNet(ab!, `${bb}/${len}`);
}

/** Subnets the management network must never use. */
const FORBIDDEN_MGMT = ['10.10.10.0/24', '192.168.50.0/24', '10.11.12.0/24', '172.16.0.0/12'];

/** 10.200.X.0/24 with X from a hash of the prefix; the next free X when taken. */
async function pickMgmtSubnet(prefix: string): Promise<string> {
  const h = createHash('sha256').update(`netplumb-sandbox:${prefix}`).digest();
  const start = h[0]!;
  const routes = JSON.parse((await must(['ip', '-j', 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string; type?: string }[];
  const addrs = JSON.parse((await must(['ip', '-j', '-4', 'addr', 'show'])) || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
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

function validatePrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new Error(`invalid sandbox prefix ${JSON.stringify(prefix)}: must match ${PREFIX_RE}`);
}

// ---------------------------------------------------------------------------
// Packages

let packagesChecked: Promise<void> | undefined;

/** Install the Debian packages the sandbox needs when any is missing (apt-get update once). */
export function ensurePackages(log?: (s: string) => void): Promise<void> {
  packagesChecked ??= (async () => {
    const r = await run(['dpkg-query', '-W', '-f=${Package} ${db:Status-Status}\\n', ...PACKAGES]);
    const installed = new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim().split(' '))
        .filter((f) => f[1] === 'installed')
        .map((f) => f[0]!.split(':')[0]),
    );
    const missing = PACKAGES.filter((p) => !installed.has(p));
    if (missing.length === 0) return;
    log?.(`installing packages: ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await must(['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update'], { env, timeoutMs: 600_000 });
    await must(['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...missing], { env, timeoutMs: 1_200_000 });
  })();
  packagesChecked.catch(() => (packagesChecked = undefined));
  return packagesChecked;
}

// ---------------------------------------------------------------------------
// up

export async function up(opts: UpOptions = {}): Promise<Sandbox> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  validatePrefix(prefix);
  const specs = opts.hosts ?? SEED_HOSTS;
  const stateDir = path.resolve(opts.baseDir ?? defaultBaseDir(prefix));
  const withDocker = opts.withDocker ?? true;
  const t0 = Date.now();
  const log = (s: string) => opts.log?.(`[sandbox ${prefix} +${Date.now() - t0}ms] ${s}`);

  // --- validate everything before touching the machine
  if (specs.length === 0) throw new Error('sandbox needs at least one host');
  if (specs.length > 200) throw new Error('at most 200 hosts');
  const names = new Set<string>();
  for (const s of specs) {
    if (!HOST_RE.test(s.name)) throw new Error(`invalid host name ${JSON.stringify(s.name)}: must match ${HOST_RE}`);
    if (names.has(s.name)) throw new Error(`duplicate host name ${s.name}`);
    names.add(s.name);
    const c = parseCidr(s.underlayCidr);
    if (!inNet(s.underlayGw, c.network)) throw new Error(`${s.name}: gateway ${s.underlayGw} is not in ${c.network}`);
    if (s.underlayGw === c.ip) throw new Error(`${s.name}: gateway equals the host address`);
  }
  // Unix socket paths are limited to 108 bytes; containerd's lives deepest.
  const deepest = path.join(stateDir, [...names].sort((a, b) => b.length - a.length)[0]!, 'docker/exec/containerd/containerd.sock');
  if (deepest.length > 100) throw new Error(`baseDir too long: ${deepest} would exceed the unix socket path limit`);

  await ensurePackages(log);

  if (existsSync(stateDir)) {
    log(`state exists in ${stateDir}: tearing it down first`);
    await down(prefix, stateDir);
  }
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const w = new ManifestWriter({
    version: 1,
    prefix,
    stateDir,
    createdAt: new Date().toISOString(),
    creatorPid: process.pid,
    complete: false,
    clientKeyPath: path.join(stateDir, 'client_key'),
    routerBridges: [],
    netns: [],
    rootLinks: [],
    etcDirs: [],
    hosts: [],
    daemons: [],
  });
  await w.record(() => {});

  try {
    await build(w, specs, withDocker, log);
    await w.record((m) => (m.complete = true));
    log('up');
    return sandboxFromManifest(w.m);
  } catch (e) {
    const err = e as Error;
    log(`up failed: ${err.message}; cleaning up`);
    try {
      await down(prefix, stateDir);
    } catch (e2) {
      log(`cleanup after failed up also failed: ${(e2 as Error).message}`);
    }
    throw new Error(`sandbox ${prefix}: up failed: ${err.message}`, { cause: err });
  }
}

async function build(w: ManifestWriter, specs: SandboxHostSpec[], withDocker: boolean, log: (s: string) => void): Promise<void> {
  const { prefix, stateDir } = w.m;
  const router = `${prefix}-router`;
  const bridge = `${prefix}mgmt`;

  // host records (names only: nothing made yet)
  const sshSupportsPenalties = sshVersionAtLeast(await run(['ssh', '-V']), 9, 8);
  const hosts: HostRecord[] = specs.map((s, i) => {
    const c = parseCidr(s.underlayCidr);
    return {
      name: s.name,
      index: i + 1,
      netns: `${prefix}-${s.name}`,
      dir: path.join(stateDir, s.name),
      mgmtIf: `${prefix}m${i + 1}`,
      mgmtIfNs: `${prefix}m${i + 1}h`,
      mgmtIp: '',
      underlayIfRouter: `${prefix}u${i + 1}r`,
      underlayIfHost: `${prefix}u${i + 1}h`,
      underlayCidr: s.underlayCidr,
      underlayIp: c.ip,
      underlayGw: s.underlayGw,
      withDocker,
    };
  });
  for (const h of hosts) {
    if (await netnsExists(h.netns)) throw new Error(`network namespace ${h.netns} exists but is not recorded in ${stateDir}: remove it by hand`);
  }
  if (await netnsExists(router)) throw new Error(`network namespace ${router} exists but is not recorded in ${stateDir}: remove it by hand`);

  // --- client key, image folders: files only, in parallel with the network
  const filesP = (async () => {
    await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `netplumb-sandbox-${prefix}-client`, '-f', w.m.clientKeyPath]);
    const pub = await fs.readFile(`${w.m.clientKeyPath}.pub`, 'utf8');
    await fs.writeFile(path.join(stateDir, 'authorized_keys'), pub, { mode: 0o600 });
    if (withDocker) await buildImageTars(stateDir);
  })();

  // --- management bridge in the root namespace (the one shared resource)
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

  // --- router namespace
  await w.record((m) => {
    m.routerNetns = router;
    m.netns.push(router);
  });
  log(`router namespace ${router}`);
  await must(['ip', 'netns', 'add', router]);
  await must(['ip', 'netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await must(['ip', '-n', router, 'link', 'set', 'lo', 'up']);
  // Hosts sharing a subnet share a Linux bridge in the router that holds the gateway.
  const groups = new Map<string, HostRecord[]>();
  for (const h of hosts) {
    const key = `${h.underlayGw}/${parseCidr(h.underlayCidr).len}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const routerPortMaster = new Map<string, string>(); // router-side ifname -> bridge
  const routerAddr = new Map<string, string>(); // router-side ifname -> gw cidr
  let gi = 0;
  for (const [gwCidr, members] of groups) {
    if (members.length === 1) {
      routerAddr.set(members[0]!.underlayIfRouter, gwCidr);
    } else {
      const rb = `${prefix}s${gi++}`;
      await w.record((m) => m.routerBridges.push(rb));
      await must(['ip', '-n', router, 'link', 'add', rb, 'type', 'bridge']);
      await must(['ip', '-n', router, 'addr', 'add', gwCidr, 'dev', rb]);
      await must(['ip', '-n', router, 'link', 'set', rb, 'up']);
      for (const h of members) routerPortMaster.set(h.underlayIfRouter, rb);
    }
  }

  await filesP;

  // --- hosts, in parallel
  const results = await Promise.allSettled(
    hosts.map((h) => buildHost(w, h, { router, routerPortMaster, routerAddr, withDocker, sshSupportsPenalties, log })),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${hosts[i]!.name}: ${(r.reason as Error).message}`] : []));
  if (failed.length) throw new Error(failed.join('\n'));

  // --- the underlay works: every host reaches every other host through the router
  log('checking the underlay');
  await Promise.all(
    hosts.map(async (h) => {
      const targets = hosts.filter((o) => o !== h).map((o) => o.underlayIp);
      if (targets.length === 0) targets.push(h.underlayGw);
      for (const t of targets) {
        const r = await run(['ip', 'netns', 'exec', h.netns, 'ping', '-c1', '-W2', '-q', t], { timeoutMs: 10_000 });
        if (r.exitCode !== 0) throw new Error(`${h.name}: underlay ping to ${t} failed: ${r.stdout}${r.stderr}`);
      }
    }),
  );
}

function sshVersionAtLeast(r: ExecResult, major: number, minor: number): boolean {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(r.stderr + r.stdout);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

async function buildImageTars(stateDir: string): Promise<void> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox not found (package busybox-static)');
  await Promise.all(
    WEB_IMAGES.map(async (n) => {
      const root = path.join(stateDir, 'image', `web_server_${n}`);
      for (const d of ['bin', 'www', 'tmp', 'etc', 'proc', 'sys', 'dev', 'root']) await fs.mkdir(path.join(root, d), { recursive: true });
      await fs.copyFile(busybox, path.join(root, 'bin/busybox'));
      await fs.chmod(path.join(root, 'bin/busybox'), 0o755);
      for (const l of BUSYBOX_LINKS) await fs.symlink('busybox', path.join(root, 'bin', l));
      await fs.writeFile(path.join(root, 'www/index.html'), `Web Server #${n}\n`);
      await fs.writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      await fs.writeFile(path.join(root, 'etc/group'), 'root:x:0:\n');
      await must(['tar', '-C', root, '-cf', path.join(stateDir, 'image', `web_server_${n}.tar`), '.']);
    }),
  );
}

interface BuildHostCtx {
  router: string;
  routerPortMaster: Map<string, string>;
  routerAddr: Map<string, string>;
  withDocker: boolean;
  sshSupportsPenalties: boolean;
  log: (s: string) => void;
}

async function buildHost(w: ManifestWriter, h: HostRecord, ctx: BuildHostCtx): Promise<void> {
  const { log } = ctx;
  const P = hostPaths(h.dir);
  const ns = h.netns;
  const nsx = ['ip', 'netns', 'exec', ns];
  const env = hostEnv(h);
  const bridge = w.m.mgmt!.bridge;

  await fs.mkdir(P.ovs, { recursive: true });
  await fs.mkdir(P.docker, { recursive: true });
  await fs.mkdir(P.ssh, { recursive: true, mode: 0o700 });

  // namespace
  await w.record((m) => m.netns.push(ns));
  log(`${h.name}: namespace ${ns}`);
  await must(['ip', 'netns', 'add', ns]);
  await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);

  // dockerd first: it is the slowest to come up, the rest happens while it starts
  let dockerExited: string | undefined;
  if (ctx.withDocker) {
    await fs.mkdir(P.dockerRoot, { recursive: true });
    await fs.mkdir(P.dockerExec, { recursive: true });
    // our own (empty) config file, so /etc/docker/daemon.json on this machine cannot interfere
    await fs.writeFile(P.dockerConfig, '{}\n');
    await w.record((m) => m.daemons.push({ host: h.name, kind: 'dockerd', pidFiles: [P.dockerPid, P.dockerLaunchPid], match: h.dir + '/' }));
    log(`${h.name}: starting dockerd`);
    const argv = [
      `--net=/run/netns/${ns}`,
      'dockerd',
      '--config-file', P.dockerConfig,
      '--data-root', P.dockerRoot,
      '--exec-root', P.dockerExec,
      '-H', `unix://${P.dockerSock}`,
      '--pidfile', P.dockerPid,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      // managed containerd per dockerd; own namespaces even if a system containerd is ever found
      '--containerd-namespace', ns,
      '--containerd-plugins-namespace', `${ns}-plugins`,
    ];
    const logFd = openSync(P.dockerLog, 'a');
    try {
      // dockerd does not daemonize: detach it from us (new session) so it outlives this process.
      // nsenter execs dockerd in place, so the pid is dockerd's.
      const child = spawn('nsenter', argv, { detached: true, stdio: ['ignore', logFd, logFd], env: daemonEnv() });
      child.on('error', (e) => (dockerExited = e.message));
      child.on('exit', (code, sig) => (dockerExited = `exit ${code ?? sig}`));
      child.unref();
      if (child.pid) await fs.writeFile(P.dockerLaunchPid, `${child.pid}\n`);
    } finally {
      closeSync(logFd);
    }
  }

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
  // No transmit checksum offload on the underlay veths: OVS reads them with AF_PACKET
  // (userspace datapath) and would otherwise see packets with unfinished checksums.
  await must(['ip', 'netns', 'exec', ctx.router, 'ethtool', '-K', h.underlayIfRouter, 'tx', 'off'], { timeoutMs: 10_000 });
  await must(['ip', '-n', ctx.router, 'link', 'set', h.underlayIfRouter, 'up']);
  await must([...nsx, 'ethtool', '-K', h.underlayIfHost, 'tx', 'off'], { timeoutMs: 10_000 });
  await must([...nsx, 'sysctl', '-qw', `net.ipv6.conf.${h.underlayIfHost}.disable_ipv6=1`, `net.ipv6.conf.${h.mgmtIfNs}.disable_ipv6=1`]);
  await must(['ip', '-n', ns, 'link', 'set', h.underlayIfHost, 'up']);

  // Open vSwitch, private to this host, userspace datapath
  log(`${h.name}: starting Open vSwitch`);
  await must(['ovsdb-tool', 'create', P.confDb, OVS_SCHEMA]);
  await w.record((m) =>
    m.daemons.push(
      { host: h.name, kind: 'ovsdb-server', pidFiles: [P.ovsdbPid], match: h.dir + '/' },
      { host: h.name, kind: 'ovs-vswitchd', pidFiles: [P.vswitchdPid], match: h.dir + '/' },
    ),
  );
  // Default unixctl sockets (OVS_RUNDIR/<daemon>.<pid>.ctl) so `ovs-appctl` finds them via OVS_RUNDIR.
  await must(
    [...nsx, 'ovsdb-server', P.confDb, `--remote=punix:${P.dbSock}`, `--pidfile=${P.ovsdbPid}`, `--log-file=${P.ovsdbLog}`, '--detach', '--no-chdir'],
    { env: { ...env, OVS_LOGDIR: P.ovs, OVS_DBDIR: P.ovs } },
  );
  await must(['ovs-vsctl', '--no-wait', '--timeout=10', 'init'], { env });
  await must(
    [...nsx, 'ovs-vswitchd', `unix:${P.dbSock}`, `--pidfile=${P.vswitchdPid}`, `--log-file=${P.vswitchdLog}`, '--detach', '--no-chdir'],
    { env: { ...env, OVS_LOGDIR: P.ovs, OVS_DBDIR: P.ovs }, timeoutMs: 30_000 },
  );
  await must(
    ['ovs-vsctl', '--timeout=15', 'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', '--', 'add-port', 'br-phy', h.underlayIfHost],
    { env },
  );
  await must([...nsx, 'sysctl', '-qw', 'net.ipv6.conf.br-phy.disable_ipv6=1']);
  await must(['ip', '-n', ns, 'addr', 'add', h.underlayCidr, 'dev', 'br-phy']);
  await must(['ip', '-n', ns, 'link', 'set', 'br-phy', 'up']);
  await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', h.underlayGw, 'dev', 'br-phy']);

  // sshd
  await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${h.netns}-host`, '-f', P.hostKey]);
  const hostKeyPub = (await fs.readFile(`${P.hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const fp = (await must(['ssh-keygen', '-l', '-E', 'sha256', '-f', `${P.hostKey}.pub`])).trim().split(/\s+/)[1] ?? '';
  if (!fp.startsWith('SHA256:')) throw new Error(`cannot read host key fingerprint of ${h.name}`);
  await w.record(() => {
    h.hostKeyPub = hostKeyPub;
    h.hostKeySha256 = fp;
  });
  const cfg = [
    `# netplumb sandbox ${w.m.prefix}: host ${h.name}`,
    'Port 22',
    `ListenAddress ${h.mgmtIp}`,
    `HostKey ${P.hostKey}`,
    `PidFile ${P.sshdPid}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `AuthorizedKeysFile ${path.join(w.m.stateDir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'UseDNS no',
    'PrintMotd no',
    'MaxSessions 64',
    'MaxStartups 64:30:128',
    'LogLevel VERBOSE',
    `SetEnv OVS_RUNDIR=${P.ovs} DOCKER_HOST=unix://${P.dockerSock}`,
    'Subsystem sftp internal-sftp',
    ...(ctx.sshSupportsPenalties ? ['PerSourcePenalties no'] : []),
    '',
  ].join('\n');
  await fs.writeFile(P.sshdConfig, cfg, { mode: 0o600 });
  await setupRootHome(w, h);
  await w.record((m) => m.daemons.push({ host: h.name, kind: 'sshd', pidFiles: [P.sshdPid], match: h.dir + '/' }));
  log(`${h.name}: starting sshd on ${h.mgmtIp}`);
  await startSshdFor(h);

  // docker answers; images imported
  if (ctx.withDocker) {
    await waitFor(`dockerd of ${h.name}`, 60_000, async () => {
      if (dockerExited) throw new Error(`dockerd exited (${dockerExited}):\n${await tail(P.dockerLog)}`);
      return (await dockerPing(P.dockerSock)) ? true : undefined;
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${dockerExited ? '' : await tail(P.dockerLog)}`);
    });
    log(`${h.name}: dockerd answers; importing images`);
    await Promise.all(
      WEB_IMAGES.map((n) =>
        must(['docker', 'import', path.join(w.m.stateDir, 'image', `web_server_${n}.tar`), `web_server_${n}`], { env, timeoutMs: 120_000 }),
      ),
    );
  }
  log(`${h.name}: ready`);
}

/**
 * root's home inside the simulated host is D/home, not this machine's /root: bash sources
 * ~/.bashrc for every command sshd runs, and a developer's .bashrc (pyenv init, …) costs
 * ~100 ms per command and leaks this machine's setup into the "remote" hosts. `ip netns
 * exec` bind-mounts /etc/netns/<ns>/passwd over /etc/passwd for sshd (started through it),
 * so only the simulated host sees the other home.
 */
async function setupRootHome(w: ManifestWriter, h: HostRecord): Promise<void> {
  const P = hostPaths(h.dir);
  await fs.mkdir(P.home, { recursive: true, mode: 0o700 });
  for (const f of ['.bashrc', '.profile']) {
    if (existsSync(`/etc/skel/${f}`)) await fs.copyFile(`/etc/skel/${f}`, path.join(P.home, f));
  }
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const ours = passwd
    .split('\n')
    .map((l) => {
      const f = l.split(':');
      if (f[0] !== 'root' || f.length < 7) return l;
      f[5] = P.home;
      return f.join(':');
    })
    .join('\n');
  const etcDir = `/etc/netns/${h.netns}`;
  await w.record((m) => (m.etcDirs ??= []).push(etcDir));
  await fs.mkdir(etcDir, { recursive: true });
  await fs.writeFile(path.join(etcDir, 'passwd'), ours, { mode: 0o644 });
}

function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DOCKER_HOST;
  delete env.OVS_RUNDIR;
  delete env.NOTIFY_SOCKET;
  return env;
}

function hostEnv(h: HostRecord): NodeJS.ProcessEnv {
  const P = hostPaths(h.dir);
  return { ...process.env, OVS_RUNDIR: P.ovs, DOCKER_HOST: `unix://${P.dockerSock}` };
}

function dockerPing(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Resolves once something at ip:port greets with an SSH banner. */
function sshBanner(ip: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    let buf = '';
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-2.0-'));
    });
    s.on('error', () => done(false));
    s.on('close', () => resolve(false));
  });
}

async function startSshdFor(h: HostRecord): Promise<void> {
  const P = hostPaths(h.dir);
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  // sshd daemonizes itself (and closes our pipes), so execFile returns at once.
  await must(['ip', 'netns', 'exec', h.netns, SSHD, '-f', P.sshdConfig, '-E', P.sshdLog]);
  await waitFor(`sshd of ${h.name} on ${h.mgmtIp}:22`, 15_000, async () => ((await sshBanner(h.mgmtIp, 22)) ? true : undefined)).catch(
    async (e: Error) => {
      throw new Error(`${e.message}\n${await tail(P.sshdLog)}`);
    },
  );
}

// ---------------------------------------------------------------------------
// The Sandbox object (also for a sandbox brought up by another process)

function sandboxFromManifest(m: Manifest): Sandbox {
  const recs = new Map(m.hosts.map((h) => [h.name, h]));
  const rec = (name: string): HostRecord => {
    const h = recs.get(name);
    if (!h) throw new Error(`sandbox ${m.prefix} has no host ${name} (hosts: ${[...recs.keys()].join(', ')})`);
    return h;
  };
  const hosts: SandboxHost[] = m.hosts.map((h) => {
    const P = hostPaths(h.dir);
    return {
      name: h.name,
      netns: h.netns,
      mgmtIp: h.mgmtIp,
      sshPort: 22,
      underlayIp: h.underlayIp,
      stateDir: h.dir,
      ovsRundir: P.ovs,
      dockerSocket: P.dockerSock,
      hostKeySha256: h.hostKeySha256 ?? '',
      hostKeyPub: h.hostKeyPub ?? '',
      sshdLog: P.sshdLog,
      sshdPidFile: P.sshdPid,
    };
  });
  const byName = new Map(hosts.map((h) => [h.name, h]));
  return {
    prefix: m.prefix,
    stateDir: m.stateDir,
    clientKeyPath: m.clientKeyPath,
    routerNetns: m.routerNetns ?? `${m.prefix}-router`,
    routerIfaces: Object.fromEntries(m.hosts.map((h) => [h.name, h.underlayIfRouter])),
    hosts,
    host(name) {
      rec(name);
      return byName.get(name)!;
    },
    exec(hostName, argv, opts = {}) {
      const h = rec(hostName);
      return run(['ip', 'netns', 'exec', h.netns, ...argv], { env: hostEnv(h), timeoutMs: opts.timeoutMs ?? 30_000 });
    },
    async startWeb(hostName, containerName, n) {
      const h = rec(hostName);
      if (!WEB_IMAGES.includes(n)) throw new Error(`no image web_server_${n} (have ${WEB_IMAGES.join(', ')})`);
      const env = hostEnv(h);
      await must(['docker', 'run', '--name', containerName, '--net=none', '-d', `web_server_${n}`, '/bin/httpd', '-f', '-p', '80', '-h', '/www'], {
        env,
        timeoutMs: 60_000,
      });
      const pid = Number((await must(['docker', 'inspect', '-f', '{{.State.Pid}}', containerName], { env })).trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`container ${containerName} on ${hostName} is not running`);
      return pid;
    },
    async stopSshd(hostName) {
      const h = rec(hostName);
      const P = hostPaths(h.dir);
      await killByPidFile(P.sshdPid, h.dir + '/', 3000);
    },
    async startSshd(hostName) {
      const h = rec(hostName);
      const P = hostPaths(h.dir);
      const pid = await readPid(P.sshdPid);
      if (pid) {
        const info = await procInfo(pid);
        if (info && !info.zombie && info.cmdline.includes(h.dir + '/')) return; // already running
      }
      await startSshdFor(h);
    },
    down: () => down(m.prefix, m.stateDir),
  };
}

/** The Sandbox of a prefix that is up (made by this or another process), from its manifest. */
export async function open(prefix: string = DEFAULT_PREFIX, baseDir?: string): Promise<Sandbox> {
  validatePrefix(prefix);
  const stateDir = path.resolve(baseDir ?? defaultBaseDir(prefix));
  const m = await readManifest(stateDir);
  if (!m) throw new Error(`no sandbox ${prefix} in ${stateDir}`);
  if (!m.complete) throw new Error(`sandbox ${prefix} in ${stateDir} is not complete (up still running or crashed): run down`);
  return sandboxFromManifest(m);
}

// ---------------------------------------------------------------------------
// down

export async function down(prefix: string = DEFAULT_PREFIX, baseDir?: string): Promise<void> {
  validatePrefix(prefix);
  const stateDir = path.resolve(baseDir ?? defaultBaseDir(prefix));
  if (!existsSync(stateDir)) return;
  const m = await readManifest(stateDir);
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };

  if (m) {
    if (m.prefix !== prefix) throw new Error(`${stateDir} holds sandbox ${m.prefix}, not ${prefix}`);
    const nsIds = new Map<string, string>();
    for (const ns of m.netns) nsIds.set(ns, await netnsId(ns));

    // 1. per host: containers, then daemons (pid files, checked), then anything left
    await Promise.all(
      m.hosts.map(async (h) => {
        const P = hostPaths(h.dir);
        const env = hostEnv(h);
        if (existsSync(P.dockerSock) && (await dockerPing(P.dockerSock))) {
          await attempt(`${h.name}: removing containers`, async () => {
            const ids = (await must(['docker', 'ps', '-aq'], { env, timeoutMs: 20_000 })).split('\n').filter(Boolean);
            if (ids.length) await must(['docker', 'rm', '-f', '-v', ...ids], { env, timeoutMs: 60_000 });
          });
        }
        const daemons = m.daemons.filter((d) => d.host === h.name);
        await Promise.all(
          daemons.map((d) =>
            attempt(`${h.name}: stopping ${d.kind}`, async () => {
              for (const f of d.pidFiles) await killByPidFile(f, d.match, d.kind === 'dockerd' ? 15_000 : 3000);
            }),
          ),
        );
        await attempt(`${h.name}: stopping leftover processes`, async () => {
          const left = await findSandboxProcesses([h.dir + '/'], [nsIds.get(h.netns) ?? '']);
          await terminate(left, 2000);
        });
        await attempt(`${h.name}: unmounting`, async () => {
          const left = await unmountUnder(h.dir);
          if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
        });
      }),
    );
    // the router namespace, and anything still living in any of our namespaces
    await attempt('stopping processes in the sandbox namespaces', async () => {
      const left = await findSandboxProcesses([stateDir + '/'], [...nsIds.values()]);
      await terminate(left, 2000);
    });

    // 2. namespaces (veths inside them go too), then root-namespace links
    await Promise.all(
      [...m.netns].reverse().map((ns) =>
        attempt(`deleting namespace ${ns}`, async () => {
          if (!(await netnsExists(ns))) return;
          const r = await run(['ip', 'netns', 'delete', ns]);
          if (r.exitCode !== 0 && (await netnsExists(ns))) {
            await run(['umount', '-l', `/run/netns/${ns}`]);
            await fs.rm(`/run/netns/${ns}`, { force: true });
          }
          if (await netnsExists(ns)) throw new Error(r.stderr.trim());
        }),
      ),
    );
    for (const dir of m.etcDirs ?? []) {
      await attempt(`removing ${dir}`, async () => {
        if (!dir.startsWith(`/etc/netns/${prefix}-`)) throw new Error('not a sandbox folder');
        await fs.rm(dir, { recursive: true, force: true });
      });
    }
    for (const link of [...m.rootLinks].reverse()) {
      await attempt(`deleting link ${link}`, async () => {
        if (!existsSync(`/sys/class/net/${link}`)) return;
        // A veth goes with its peer when the namespace holding the peer is cleaned up, which the kernel does
        // asynchronously: the link may vanish between the check and the delete.
        const r = await run(['ip', 'link', 'delete', link]);
        if (r.exitCode !== 0 && existsSync(`/sys/class/net/${link}`)) throw new Error(`ip link delete ${link}: ${r.stderr.trim()}`);
      });
    }
  }

  // 3. the state directory — never rm through a mount point
  await attempt('unmounting under the state dir', async () => {
    const left = await unmountUnder(stateDir);
    if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
  });
  if (errors.length === 0) {
    await attempt('removing the state dir', () => fs.rm(stateDir, { recursive: true, force: true }));
  }
  if (errors.length) throw new Error(`sandbox ${prefix}: down incomplete (state kept in ${stateDir}):\n${errors.join('\n')}`);
}

// ---------------------------------------------------------------------------
// status

export async function status(prefix: string = DEFAULT_PREFIX, baseDir?: string): Promise<string> {
  validatePrefix(prefix);
  const stateDir = path.resolve(baseDir ?? defaultBaseDir(prefix));
  const m = await readManifest(stateDir);
  if (!m) return existsSync(stateDir) ? `sandbox ${prefix}: state dir ${stateDir} exists without a manifest (run down)` : `sandbox ${prefix}: down`;
  const lines: string[] = [];
  lines.push(`sandbox ${prefix}: ${m.complete ? 'up' : 'INCOMPLETE (up running or crashed; run down)'} since ${m.createdAt} (by pid ${m.creatorPid})`);
  lines.push(`  state dir   ${stateDir}`);
  lines.push(`  client key  ${m.clientKeyPath}`);
  if (m.mgmt) lines.push(`  management  ${m.mgmt.bridge} ${m.mgmt.bridgeIp} (${m.mgmt.subnet})${existsSync(`/sys/class/net/${m.mgmt.bridge}`) ? '' : ' MISSING'}`);
  if (m.routerNetns) lines.push(`  router      ${m.routerNetns}${(await netnsExists(m.routerNetns)) ? '' : ' MISSING'}`);
  for (const h of m.hosts) {
    const P = hostPaths(h.dir);
    const parts: string[] = [];
    parts.push(`netns ${h.netns}${(await netnsExists(h.netns)) ? '' : ' MISSING'}`);
    for (const d of m.daemons.filter((x) => x.host === h.name)) {
      let state = 'down';
      for (const f of d.pidFiles) {
        const pid = await readPid(f);
        const info = pid ? await procInfo(pid) : undefined;
        if (info && !info.zombie && info.cmdline.includes(d.match)) {
          state = `pid ${pid}`;
          break;
        }
      }
      parts.push(`${d.kind} ${state}`);
    }
    if (h.withDocker) parts.push(`docker ${(await dockerPing(P.dockerSock)) ? 'answers' : 'NOT answering'}`);
    if (h.mgmtIp) parts.push(`ssh ${(await sshBanner(h.mgmtIp, 22, 500)) ? 'answers' : 'NOT answering'}`);
    lines.push(`  ${h.name}: mgmt ${h.mgmtIp || '?'} underlay ${h.underlayCidr} host key ${h.hostKeySha256 ?? '?'}`);
    lines.push(`    ${parts.join(', ')}`);
  }
  return lines.join('\n');
}
