/**
 * Bringing up one simulated host inside its network namespace: dockerd (slowest, so
 * first), its links, a private Open vSwitch with the userspace datapath, sshd (sshd.ts),
 * and the web_server images.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { hostEnv, hostPaths, preparePluginsDir, withOwnPluginsDir, type HostRecord, type ManifestWriter } from './manifest.js';
import { linkHost, type RouterPlan } from './network.js';
import { must, tail, waitFor } from './run.js';
import { setUpSshd } from './sshd.js';

export const WEB_IMAGES = [1, 2];
const BUSYBOX_LINKS = ['sh', 'httpd', 'ip', 'ping', 'wget', 'cat', 'ls', 'sleep', 'ifconfig', 'route', 'nc', 'echo', 'hostname'];
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export interface BuildHostCtx extends RouterPlan {
  withDocker: boolean;
  sshSupportsPenalties: boolean;
  log: (s: string) => void;
}

export async function buildHost(w: ManifestWriter, h: HostRecord, ctx: BuildHostCtx): Promise<void> {
  const { log } = ctx;
  const P = hostPaths(h.dir);
  const ns = h.netns;

  await fs.mkdir(P.ovs, { recursive: true });
  await fs.mkdir(P.docker, { recursive: true });
  await fs.mkdir(P.ssh, { recursive: true, mode: 0o700 });

  // namespace
  await w.record((m) => m.netns.push(ns));
  log(`${h.name}: namespace ${ns}`);
  await must(['ip', 'netns', 'add', ns]);
  await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);

  // dockerd first: it is the slowest to come up, the rest happens while it starts
  const dockerd = ctx.withDocker ? await startDockerd(w, h, log) : undefined;
  await linkHost(w, h, ctx);
  await startOvs(w, h, log);
  await setUpSshd(w, h, ctx.sshSupportsPenalties, log);
  if (dockerd) await importImagesOnceDockerdAnswers(w, h, dockerd, log);
  log(`${h.name}: ready`);
}

/** How the launched dockerd ended, once it has (set by the child's events). */
export interface DockerdLaunch {
  exited: string | undefined;
}

async function startDockerd(w: ManifestWriter, h: HostRecord, log: (s: string) => void): Promise<DockerdLaunch> {
  const P = hostPaths(h.dir);
  await fs.mkdir(P.dockerRoot, { recursive: true });
  await fs.mkdir(P.dockerExec, { recursive: true });
  // our own (empty) config file, so /etc/docker/daemon.json on this machine cannot interfere
  await fs.writeFile(P.dockerConfig, '{}\n');
  await w.record((m) => m.daemons.push({ host: h.name, kind: 'dockerd', pidFiles: [P.dockerPid, P.dockerLaunchPid], match: h.dir + '/' }));
  log(`${h.name}: starting dockerd`);
  return await launchDockerd(h);
}

/** Starts the host's dockerd (again: a restart keeps its data root, containers with --restart come back). */
export async function launchDockerd(h: HostRecord): Promise<DockerdLaunch> {
  const P = hostPaths(h.dir);
  const ns = h.netns;
  const launch: DockerdLaunch = { exited: undefined };
  await preparePluginsDir(P.plugins);
  const argv = [
    `--net=/run/netns/${ns}`,
    'dockerd',
    '--config-file',
    P.dockerConfig,
    '--data-root',
    P.dockerRoot,
    '--exec-root',
    P.dockerExec,
    '-H',
    `unix://${P.dockerSock}`,
    '--pidfile',
    P.dockerPid,
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver=vfs',
    // managed containerd per dockerd; own namespaces even if a system containerd is ever found
    '--containerd-namespace',
    ns,
    '--containerd-plugins-namespace',
    `${ns}-plugins`,
  ];
  const logFd = openSync(P.dockerLog, 'a');
  try {
    // dockerd does not daemonize: detach it from us (new session) so it outlives this process.
    // unshare, sh and nsenter each exec the next in place, so the pid is dockerd's. Its own mount namespace holds
    // the host's plugins directory on /run/docker/plugins.
    const child = spawn('unshare', ['-m', '--propagation', 'private', ...withOwnPluginsDir(P.plugins, ['nsenter', ...argv])], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: daemonEnv(),
    });
    child.on('error', (e) => (launch.exited = e.message));
    child.on('exit', (code, sig) => (launch.exited = `exit ${code ?? sig}`));
    child.unref();
    if (child.pid) await fs.writeFile(P.dockerLaunchPid, `${child.pid}\n`);
  } finally {
    closeSync(logFd);
  }
  return launch;
}

/** Open vSwitch, private to this host, userspace datapath; br-phy carries the underlay address. */
async function startOvs(w: ManifestWriter, h: HostRecord, log: (s: string) => void): Promise<void> {
  const P = hostPaths(h.dir);
  const ns = h.netns;
  const nsx = ['ip', 'netns', 'exec', ns];
  const env = hostEnv(h);
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
    [
      ...nsx,
      'ovsdb-server',
      P.confDb,
      `--remote=punix:${P.dbSock}`,
      `--pidfile=${P.ovsdbPid}`,
      `--log-file=${P.ovsdbLog}`,
      '--detach',
      '--no-chdir',
    ],
    { env: { ...env, OVS_LOGDIR: P.ovs, OVS_DBDIR: P.ovs } },
  );
  await must(['ovs-vsctl', '--no-wait', '--timeout=10', 'init'], { env });
  await must(
    [...nsx, 'ovs-vswitchd', `unix:${P.dbSock}`, `--pidfile=${P.vswitchdPid}`, `--log-file=${P.vswitchdLog}`, '--detach', '--no-chdir'],
    { env: { ...env, OVS_LOGDIR: P.ovs, OVS_DBDIR: P.ovs }, timeoutMs: 30_000 },
  );
  await must(
    [
      'ovs-vsctl',
      '--timeout=15',
      'add-br',
      'br-phy',
      '--',
      'set',
      'bridge',
      'br-phy',
      'datapath_type=netdev',
      '--',
      'add-port',
      'br-phy',
      h.underlayIfHost,
    ],
    { env },
  );
  // IPv6 on br-phy only with an IPv6 underlay (nodad: the address is usable at once, and no one else has it)
  await must([...nsx, 'sysctl', '-qw', `net.ipv6.conf.br-phy.disable_ipv6=${h.underlayCidr6 ? 0 : 1}`]);
  await must(['ip', '-n', ns, 'addr', 'add', h.underlayCidr, 'dev', 'br-phy']);
  if (h.underlayCidr6) await must(['ip', '-n', ns, 'addr', 'add', h.underlayCidr6, 'dev', 'br-phy', 'nodad']);
  await must(['ip', '-n', ns, 'link', 'set', 'br-phy', 'up']);
  await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', h.underlayGw, 'dev', 'br-phy']);
  if (h.underlayGw6) await must(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', h.underlayGw6, 'dev', 'br-phy']);
}

/** Waits for a (re)started dockerd to answer, failing early if it exited. */
export async function waitForDockerd(h: HostRecord, dockerd: DockerdLaunch): Promise<void> {
  const P = hostPaths(h.dir);
  await waitFor(`dockerd of ${h.name}`, 60_000, async () => {
    if (dockerd.exited) throw new Error(`dockerd exited (${dockerd.exited}):\n${await tail(P.dockerLog)}`);
    return (await dockerPing(P.dockerSock)) ? true : undefined;
  });
}

/** Waits for dockerd to answer (failing early if it exited), then imports the web_server images. */
async function importImagesOnceDockerdAnswers(
  w: ManifestWriter,
  h: HostRecord,
  dockerd: DockerdLaunch,
  log: (s: string) => void,
): Promise<void> {
  const P = hostPaths(h.dir);
  const env = hostEnv(h);
  await waitFor(`dockerd of ${h.name}`, 60_000, async () => {
    if (dockerd.exited) throw new Error(`dockerd exited (${dockerd.exited}):\n${await tail(P.dockerLog)}`);
    return (await dockerPing(P.dockerSock)) ? true : undefined;
  }).catch(async (e: Error) => {
    throw new Error(`${e.message}\n${dockerd.exited ? '' : await tail(P.dockerLog)}`);
  });
  log(`${h.name}: dockerd answers; importing images`);
  await Promise.all(
    WEB_IMAGES.map((n) =>
      must(['docker', 'import', path.join(w.m.stateDir, 'image', `web_server_${n}.tar`), `web_server_${n}`], { env, timeoutMs: 120_000 }),
    ),
  );
}

export async function buildImageTars(stateDir: string): Promise<void> {
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

function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DOCKER_HOST;
  delete env.OVS_RUNDIR;
  delete env.NOTIFY_SOCKET;
  return env;
}

export function dockerPing(socketPath: string): Promise<boolean> {
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
