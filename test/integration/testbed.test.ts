/**
 * The sandbox testbed itself: real namespaces, OVS (userspace datapath), dockerd, sshd.
 * Needs root. Uses its own prefixes, so it runs beside a demo sandbox (prefix np).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultBaseDir, down, status, up, type Sandbox } from '../testbed/sandbox.js';

const PREFIX = `tb${process.pid % 1000}`;
const CRASH_PREFIX = `tc${process.pid % 1000}`;
const HOOK_MS = 120_000;
const here = path.dirname(fileURLToPath(import.meta.url));

function run(argv: string[], timeoutMs = 30_000): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Every pid of processes whose command line names the state dir. */
async function pidsUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = (await fs.readFile(`/proc/${e}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmd.includes(dir + '/') && Number(e) !== process.pid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('sandbox testbed', () => {
  let sb: Sandbox;
  let tmp: string;
  const logs: string[] = [];

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'testbed-'));
    const t0 = Date.now();
    sb = await up({ prefix: PREFIX, log: (s) => logs.push(s) });
    logs.push(`up took ${Date.now() - t0} ms`);
  }, HOOK_MS);

  afterAll(async () => {
    // also when a test failed or up threw (then down is a no-op)
    await down(PREFIX);
    await down(CRASH_PREFIX);
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  }, HOOK_MS);

  function ssh(host: string, knownHosts: string, command: string) {
    const h = sb.host(host);
    return run([
      'ssh',
      '-i',
      sb.clientKeyPath,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'ConnectTimeout=5',
      '-p',
      String(h.sshPort),
      `root@${h.mgmtIp}`,
      command,
    ]);
  }

  async function knownHostsFor(host: string): Promise<string> {
    const h = sb.host(host);
    const f = path.join(tmp, `known_hosts_${host}`);
    await fs.writeFile(f, `${h.mgmtIp} ${h.hostKeyPub}\n`);
    return f;
  }

  it('describes every seed host', () => {
    expect(sb.hosts.map((h) => h.name)).toEqual(['docker1', 'docker3']);
    expect(sb.host('docker1').underlayIp).toBe('10.10.10.101');
    expect(sb.host('docker3').underlayIp).toBe('192.168.50.101');
    expect(sb.routerNetns).toBe(`${PREFIX}-router`);
    for (const h of sb.hosts) {
      expect(h.netns).toBe(`${PREFIX}-${h.name}`);
      expect(h.hostKeySha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(h.mgmtIp).toMatch(/^10\.200\.\d+\.\d+$/);
      expect(existsSync(h.dockerSocket)).toBe(true);
      expect(sb.routerIfaces[h.name]!.length).toBeLessThanOrEqual(15);
    }
  });

  it('the host key fingerprint is the key sshd presents', async () => {
    for (const h of sb.hosts) {
      const scan = await run(['ssh-keyscan', '-t', 'ed25519', h.mgmtIp]);
      const f = path.join(tmp, `scan_${h.name}`);
      await fs.writeFile(f, scan.stdout);
      const fp = await run(['ssh-keygen', '-l', '-E', 'sha256', '-f', f]);
      expect(fp.stdout.split(/\s+/)[1]).toBe(h.hostKeySha256);
    }
  }, 30_000);

  it('ssh with strict host key checking reaches each host’s own OVS and dockerd', async () => {
    for (const h of sb.hosts) {
      const kh = await knownHostsFor(h.name);
      const ovs = await ssh(h.name, kh, 'ovs-vsctl --version');
      expect(ovs.stderr).toBe('');
      expect(ovs.exitCode).toBe(0);
      expect(ovs.stdout).toMatch(/Open vSwitch/);

      const dv = await ssh(h.name, kh, 'docker version --format {{.Server.Version}}');
      expect(dv.exitCode).toBe(0);
      expect(dv.stdout.trim()).toMatch(/^\d+\.\d+/);

      const dp = await ssh(h.name, kh, 'ovs-vsctl get Open_vSwitch . datapath_types');
      expect(dp.exitCode).toBe(0);
      expect(dp.stdout).toContain('netdev');

      // the session lives in the host's namespace: it sees br-phy with the underlay address
      const ip = await ssh(h.name, kh, 'ip -4 -o addr show dev br-phy');
      expect(ip.stdout).toContain(`${h.underlayIp}/`);

      // ovs-appctl finds the daemon through OVS_RUNDIR alone
      const appctl = await ssh(h.name, kh, 'ovs-appctl version');
      expect(appctl.exitCode).toBe(0);

      expect(await fs.readFile(h.sshdLog, 'utf8')).toContain('Accepted publickey for root');
    }
  }, 60_000);

  it('each host’s sshd and dockerd see the host’s own /run/docker/plugins (where a forwarded plugin socket lands)', async () => {
    for (const h of sb.hosts) {
      const kh = await knownHostsFor(h.name);
      const r = await ssh(h.name, kh, `touch /run/docker/plugins/probe-${h.name}`);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    for (const h of sb.hosts) {
      const own = await fs.readdir(path.join(h.stateDir, 'plugins'));
      expect(own).toEqual([`probe-${h.name}`]);
      // dockerd's view of the path, through its own mount namespace
      const dockerdPid = (await fs.readFile(path.join(h.stateDir, 'docker', 'dockerd.pid'), 'utf8')).trim();
      expect(await fs.readdir(`/proc/${dockerdPid}/root/run/docker/plugins`)).toEqual([`probe-${h.name}`]);
      await fs.rm(path.join(h.stateDir, 'plugins', `probe-${h.name}`));
    }
    // this machine's own view stays untouched
    expect(existsSync(`/run/docker/plugins/probe-${sb.hosts[0]!.name}`)).toBe(false);
  }, 60_000);

  it('refuses a host whose key does not match known_hosts', async () => {
    const f = path.join(tmp, 'wrong_known_hosts');
    // docker3's key listed under docker1's address
    await fs.writeFile(f, `${sb.host('docker1').mgmtIp} ${sb.host('docker3').hostKeyPub}\n`);
    const r = await ssh('docker1', f, 'true');
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  }, 30_000);

  it('docker1 reaches docker3’s underlay address through the router', async () => {
    const r = await sb.exec('docker1', ['ping', '-c1', '-W2', sb.host('docker3').underlayIp]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/ttl=63/); // one routed hop
    const back = await sb.exec('docker3', ['ping', '-c1', '-W2', sb.host('docker1').underlayIp]);
    expect(back.exitCode).toBe(0);
    // the router sees it on docker3's link
    const rl = await run(['ip', '-n', sb.routerNetns, '-o', 'link', 'show', sb.routerIfaces.docker3!]);
    expect(rl.exitCode).toBe(0);
  }, 30_000);

  it('startWeb runs a --net=none busybox web server', async () => {
    const pid = await sb.startWeb('docker1', 'web1', 1);
    expect(pid).toBeGreaterThan(1);
    const links = await run(['nsenter', '-t', String(pid), '-n', 'ip', '-o', 'link']);
    expect(links.exitCode).toBe(0);
    const names = links.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1]!.trim());
    expect(names).toEqual(['lo']);
    // it serves its page (curl from inside the container's namespace, on its loopback)
    await run(['nsenter', '-t', String(pid), '-n', 'ip', 'link', 'set', 'lo', 'up']);
    const page = await run(['nsenter', '-t', String(pid), '-n', 'curl', '-s', '-m', '5', 'http://127.0.0.1/']);
    expect(page.stdout.trim()).toBe('Web Server #1');
    const pid2 = await sb.startWeb('docker3', 'web2', 2);
    expect(pid2).toBeGreaterThan(1);
  }, 60_000);

  it('stopSshd and startSshd take the host’s sshd away and back', async () => {
    const kh = await knownHostsFor('docker3');
    await sb.stopSshd('docker3');
    const off = await ssh('docker3', kh, 'true');
    expect(off.exitCode).toBe(255);
    await sb.startSshd('docker3');
    const on = await ssh('docker3', kh, 'true');
    expect(on.exitCode).toBe(0);
  }, 60_000);

  it('status reports what runs', async () => {
    const s = await status(PREFIX);
    expect(s).toContain(`sandbox ${PREFIX}: up`);
    expect(s).not.toMatch(/MISSING|NOT answering/);
  }, 30_000);

  it(
    'down removes everything, and a second down is a no-op',
    async () => {
      const pids = await pidsUnder(sb.stateDir);
      expect(pids.length).toBeGreaterThanOrEqual(2 * 5); // ovsdb, vswitchd, dockerd, containerd, sshd per host
      const t0 = Date.now();
      await sb.down();
      logs.push(`down took ${Date.now() - t0} ms`);
      expect(await netnsWithPrefix(PREFIX)).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
      expect(await pidsUnder(sb.stateDir)).toEqual([]);
      expect(existsSync(sb.stateDir)).toBe(false);
      expect(existsSync(`/sys/class/net/${PREFIX}mgmt`)).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(sb.stateDir);
      await down(PREFIX);
      console.log(logs.join('\n'));
    },
    HOOK_MS,
  );

  it(
    'down cleans up after the process running up was killed midway',
    async () => {
      const cli = path.join(here, '../testbed/cli.ts');
      const tsx = path.join(here, '../../node_modules/.bin/tsx');
      const child = spawn(tsx, [cli, 'up', '--prefix', CRASH_PREFIX], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // kill its process group (tsx and the node it runs; the daemons detached into their own sessions) midway
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`up never started dockerd:\n${err}`)), 60_000);
        child.stderr.on('data', () => {
          if (/starting Open vSwitch/.test(err)) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      process.kill(-child.pid!, 'SIGKILL');
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      const dir = defaultBaseDir(CRASH_PREFIX);
      expect(existsSync(path.join(dir, 'manifest.json'))).toBe(true);
      expect((await netnsWithPrefix(CRASH_PREFIX)).length).toBeGreaterThan(0);
      await down(CRASH_PREFIX);
      expect(await netnsWithPrefix(CRASH_PREFIX)).toEqual([]);
      expect(await pidsUnder(dir)).toEqual([]);
      expect(existsSync(dir)).toBe(false);
      expect(existsSync(`/sys/class/net/${CRASH_PREFIX}mgmt`)).toBe(false);
    },
    HOOK_MS,
  );
});
