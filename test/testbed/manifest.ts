/**
 * The sandbox's state on disk: where a prefix's state lives, the layout of a host's
 * folder, and the manifest — what up made, written before each thing is made, so that
 * down removes exactly that, also after a crash.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { readText } from './run.js';

export const DEFAULT_PREFIX = 'np';

/** Where a prefix's state lives unless baseDir is given. */
export function defaultBaseDir(prefix: string): string {
  return `/run/netplumb-sandbox/${prefix}`;
}

const PREFIX_RE = /^[a-z][a-z0-9]{0,5}$/;

export function validatePrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new Error(`invalid sandbox prefix ${JSON.stringify(prefix)}: must match ${PREFIX_RE}`);
}

// ---------------------------------------------------------------------------
// Manifest: what up made, written before each thing is made

export interface HostRecord {
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
  underlayCidr6?: string;
  underlayIp6?: string;
  underlayGw6?: string;
  withDocker: boolean;
  slowShellMs?: number;
  hostKeySha256?: string;
  hostKeyPub?: string;
}

export interface DaemonRecord {
  host: string;
  kind: 'ovsdb-server' | 'ovs-vswitchd' | 'dockerd' | 'sshd';
  pidFiles: string[];
  /** A string the daemon's /proc/<pid>/cmdline must contain for us to kill it. */
  match: string;
}

export interface Manifest {
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

export async function readManifest(stateDir: string): Promise<Manifest | undefined> {
  const t = await readText(manifestPath(stateDir));
  if (!t) return undefined;
  try {
    return JSON.parse(t) as Manifest;
  } catch {
    return undefined;
  }
}

export class ManifestWriter {
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
// A host's folder

export function hostPaths(dir: string) {
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
    /** Seen as /run/docker/plugins by the host's dockerd and sshd (their own mount namespace): where plugins' sockets land. */
    plugins: path.join(dir, 'plugins'),
  };
}

/** Where dockerd looks for plugin sockets. */
export const PLUGINS_MOUNT = '/run/docker/plugins';

/**
 * argv that runs `argv` with the host's own plugins directory bind-mounted on /run/docker/plugins. Must run in a mount
 * namespace of its own (under `ip netns exec`, or `unshare -m`): the bind mount stays there, and every host's dockerd
 * finds only its own netplumb.sock (the one sshd forwards for it).
 */
export function withOwnPluginsDir(pluginsDir: string, argv: string[]): string[] {
  return ['sh', '-c', `mount --bind "$1" ${PLUGINS_MOUNT} && shift && exec "$@"`, 'sh', pluginsDir, ...argv];
}

/** The directories withOwnPluginsDir needs: the host's own, and the mount point (empty in this machine's view). */
export async function preparePluginsDir(pluginsDir: string): Promise<void> {
  await fs.mkdir(pluginsDir, { recursive: true });
  await fs.mkdir(PLUGINS_MOUNT, { recursive: true });
}

/** The environment that points ovs-vsctl, ovs-appctl and docker at a host's own daemons. */
export function hostEnv(h: HostRecord): NodeJS.ProcessEnv {
  const P = hostPaths(h.dir);
  return { ...process.env, OVS_RUNDIR: P.ovs, DOCKER_HOST: `unix://${P.dockerSock}` };
}
