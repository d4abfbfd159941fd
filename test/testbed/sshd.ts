/**
 * sshd of a simulated host: listens on the host's management address only, takes the
 * sandbox's client key for root, and runs in the host's namespace with a home of its own.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { hostPaths, preparePluginsDir, withOwnPluginsDir, type HostRecord, type ManifestWriter } from './manifest.js';
import { must, tail, waitFor } from './run.js';
import type { ExecResult } from './types.js';

const SSHD = '/usr/sbin/sshd';

/** sshd: a fresh host key (recorded), its config, root's home; then start it. */
export async function setUpSshd(w: ManifestWriter, h: HostRecord, sshSupportsPenalties: boolean, log: (s: string) => void): Promise<void> {
  const P = hostPaths(h.dir);
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
    ...(sshSupportsPenalties ? ['PerSourcePenalties no'] : []),
    '',
  ].join('\n');
  await fs.writeFile(P.sshdConfig, cfg, { mode: 0o600 });
  await setupRootHome(w, h);
  await w.record((m) => m.daemons.push({ host: h.name, kind: 'sshd', pidFiles: [P.sshdPid], match: h.dir + '/' }));
  log(`${h.name}: starting sshd on ${h.mgmtIp}`);
  await startSshdFor(h);
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
  if (h.slowShellMs) {
    // First, before the stock "not interactive? return": bash sources ~/.bashrc for every command sshd runs.
    const rc = path.join(P.home, '.bashrc');
    const stock = existsSync(rc) ? await fs.readFile(rc, 'utf8') : '';
    const slow = `# netplumb sandbox: a slow shell start-up (slowShellMs), like pyenv/nvm/conda init\necho "$$" >> ~/.shell-starts\nsleep ${h.slowShellMs / 1000}\n\n`;
    await fs.writeFile(rc, slow + stock);
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

export async function startSshdFor(h: HostRecord): Promise<void> {
  const P = hostPaths(h.dir);
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await preparePluginsDir(P.plugins);
  // sshd daemonizes itself (and closes our pipes), so execFile returns at once. `ip netns exec` gives it a mount
  // namespace of its own, where the host's plugins directory is /run/docker/plugins: a socket it forwards
  // (streamlocal-forward) lands where this host's dockerd, and only it, looks.
  await must(['ip', 'netns', 'exec', h.netns, ...withOwnPluginsDir(P.plugins, [SSHD, '-f', P.sshdConfig, '-E', P.sshdLog])]);
  await waitFor(`sshd of ${h.name} on ${h.mgmtIp}:22`, 15_000, async () => ((await sshBanner(h.mgmtIp, 22)) ? true : undefined)).catch(
    async (e: Error) => {
      throw new Error(`${e.message}\n${await tail(P.sshdLog)}`);
    },
  );
}

/** Resolves once something at ip:port greets with an SSH banner. */
export function sshBanner(ip: string, port: number, timeoutMs = 1000): Promise<boolean> {
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

export function sshVersionAtLeast(r: ExecResult, major: number, minor: number): boolean {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(r.stderr + r.stdout);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}
