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
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildHost, buildImageTars, dockerPing, launchDockerd, waitForDockerd, WEB_IMAGES } from './host.js';
import {
  DEFAULT_PREFIX,
  defaultBaseDir,
  hostEnv,
  hostPaths,
  ManifestWriter,
  readManifest,
  validatePrefix,
  type HostRecord,
  type Manifest,
} from './manifest.js';
import { checkUnderlay, createMgmtBridge, createRouter, inNet, inNet6, netnsExists, parseCidr, parseCidr6 } from './network.js';
import { ensurePackages } from './packages.js';
import { killByPidFile, must, procInfo, readPid, run } from './run.js';
import { sshBanner, sshVersionAtLeast, startSshdFor } from './sshd.js';
import { down } from './teardown.js';
import type { Sandbox, SandboxHost, SandboxHostSpec, UpOptions } from './types.js';

// ---------------------------------------------------------------------------
// Public API (the rest lives in the modules next to this one)

export type { ExecResult, Sandbox, SandboxHost, SandboxHostSpec, UpOptions } from './types.js';
export { DEFAULT_PREFIX, defaultBaseDir } from './manifest.js';
export { ensurePackages, PACKAGES } from './packages.js';
export { down } from './teardown.js';

export const SEED_HOSTS: SandboxHostSpec[] = [
  { name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
  { name: 'docker3', underlayCidr: '192.168.50.101/24', underlayGw: '192.168.50.1' },
];

/** The seed hosts with an IPv6 underlay beside the IPv4 one: a ULA /64 per subnet, the router forwarding both. */
export const SEED_HOSTS_IPV6: SandboxHostSpec[] = [
  { ...SEED_HOSTS[0]!, underlayCidr6: 'fd00:18:1::101/64', underlayGw6: 'fd00:18:1::1' },
  { ...SEED_HOSTS[1]!, underlayCidr6: 'fd00:18:2::101/64', underlayGw6: 'fd00:18:2::1' },
];

const HOST_RE = /^[a-z][a-z0-9-]{0,15}$/;

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
    if ((s.underlayCidr6 === undefined) !== (s.underlayGw6 === undefined))
      throw new Error(`${s.name}: underlayCidr6 and underlayGw6 go together`);
    if (s.underlayCidr6 !== undefined) {
      const c6 = parseCidr6(s.underlayCidr6);
      if (!inNet6(s.underlayGw6!, c6.network)) throw new Error(`${s.name}: gateway ${s.underlayGw6} is not in ${c6.network}`);
      if (c6.ip === parseCidr6(`${s.underlayGw6}/128`).ip) throw new Error(`${s.name}: IPv6 gateway equals the host address`);
    }
    if (s.slowShellMs !== undefined && !(Number.isInteger(s.slowShellMs) && s.slowShellMs > 0 && s.slowShellMs <= 60_000)) {
      throw new Error(`${s.name}: slowShellMs must be an integer from 1 to 60000`);
    }
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
      ...(s.underlayCidr6
        ? { underlayCidr6: s.underlayCidr6, underlayIp6: parseCidr6(s.underlayCidr6).ip, underlayGw6: s.underlayGw6! }
        : {}),
      withDocker,
      ...(s.slowShellMs ? { slowShellMs: s.slowShellMs } : {}),
    };
  });
  for (const h of hosts) {
    if (await netnsExists(h.netns))
      throw new Error(`network namespace ${h.netns} exists but is not recorded in ${stateDir}: remove it by hand`);
  }
  if (await netnsExists(router))
    throw new Error(`network namespace ${router} exists but is not recorded in ${stateDir}: remove it by hand`);

  // --- client key, image folders: files only, in parallel with the network
  const filesP = (async () => {
    await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `netplumb-sandbox-${prefix}-client`, '-f', w.m.clientKeyPath]);
    const pub = await fs.readFile(`${w.m.clientKeyPath}.pub`, 'utf8');
    await fs.writeFile(path.join(stateDir, 'authorized_keys'), pub, { mode: 0o600 });
    if (withDocker) await buildImageTars(stateDir);
  })();
  // Awaited further down; if a network step throws first, this must not become an unhandled rejection.
  filesP.catch(() => undefined);

  // --- management bridge in the root namespace (the one shared resource)
  await createMgmtBridge(w, hosts, log);

  // --- router namespace
  const routerPlan = await createRouter(w, hosts, router, log);

  await filesP;

  // --- hosts, in parallel
  const results = await Promise.allSettled(hosts.map((h) => buildHost(w, h, { ...routerPlan, withDocker, sshSupportsPenalties, log })));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${hosts[i]!.name}: ${(r.reason as Error).message}`] : []));
  if (failed.length) throw new Error(failed.join('\n'));

  // --- the underlay works: every host reaches every other host through the router
  await checkUnderlay(hosts, log);
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
      ...(h.underlayIp6 ? { underlayIp6: h.underlayIp6 } : {}),
      stateDir: h.dir,
      ovsRundir: P.ovs,
      dockerSocket: P.dockerSock,
      hostKeySha256: h.hostKeySha256 ?? '',
      hostKeyPub: h.hostKeyPub ?? '',
      sshdLog: P.sshdLog,
      sshdPidFile: P.sshdPid,
      homeDir: P.home,
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
      await must(
        ['docker', 'run', '--name', containerName, '--net=none', '-d', `web_server_${n}`, '/bin/httpd', '-f', '-p', '80', '-h', '/www'],
        {
          env,
          timeoutMs: 60_000,
        },
      );
      const pid = Number((await must(['docker', 'inspect', '-f', '{{.State.Pid}}', containerName], { env })).trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`container ${containerName} on ${hostName} is not running`);
      return pid;
    },
    async stopSshd(hostName) {
      const h = rec(hostName);
      const P = hostPaths(h.dir);
      await killByPidFile(P.sshdPid, h.dir + '/', 3000);
    },
    async restartDockerd(hostName) {
      const h = rec(hostName);
      const P = hostPaths(h.dir);
      await killByPidFile(P.dockerPid, h.dir + '/', 20_000);
      await waitForDockerd(h, await launchDockerd(h));
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
// status

export async function status(prefix: string = DEFAULT_PREFIX, baseDir?: string): Promise<string> {
  validatePrefix(prefix);
  const stateDir = path.resolve(baseDir ?? defaultBaseDir(prefix));
  const m = await readManifest(stateDir);
  if (!m)
    return existsSync(stateDir)
      ? `sandbox ${prefix}: state dir ${stateDir} exists without a manifest (run down)`
      : `sandbox ${prefix}: down`;
  const lines: string[] = [];
  lines.push(
    `sandbox ${prefix}: ${m.complete ? 'up' : 'INCOMPLETE (up running or crashed; run down)'} since ${m.createdAt} (by pid ${m.creatorPid})`,
  );
  lines.push(`  state dir   ${stateDir}`);
  lines.push(`  client key  ${m.clientKeyPath}`);
  if (m.mgmt)
    lines.push(
      `  management  ${m.mgmt.bridge} ${m.mgmt.bridgeIp} (${m.mgmt.subnet})${existsSync(`/sys/class/net/${m.mgmt.bridge}`) ? '' : ' MISSING'}`,
    );
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
    lines.push(
      `  ${h.name}: mgmt ${h.mgmtIp || '?'} underlay ${h.underlayCidr}${h.underlayCidr6 ? ` ${h.underlayCidr6}` : ''} host key ${h.hostKeySha256 ?? '?'}`,
    );
    lines.push(`    ${parts.join(', ')}`);
  }
  return lines.join('\n');
}
