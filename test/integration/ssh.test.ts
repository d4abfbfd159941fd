/**
 * SshExecutor against a real, throwaway sshd on loopback (and, when dockerd is installed,
 * Docker over `docker system dial-stdio` through the same connection). Everything started
 * here is stopped by its pid and its temp folder removed in afterAll, also on failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { DOCKER_STREAM_IDLE_MS, dockerStats } from '../../src/docker/client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/capabilities.js';
import {
  ContainerNotFoundError,
  ContainerNotRunningError,
  createDockerClient,
  dockerVersion,
  resolveContainer,
} from '../../src/docker/index.js';
import { ExecError } from '../../src/exec/errors.js';
import { LocalExecutor } from '../../src/exec/local.js';
import { SshExecutor, fingerprintOfKey, type SshExecutorConfig } from '../../src/exec/ssh.js';

const SSHD = '/usr/sbin/sshd';
const DOCKERD = '/usr/sbin/dockerd';

// ---- a throwaway sshd -------------------------------------------------------------------

interface Sshd {
  dir: string;
  port: number;
  config: string;
  pidFile: string;
  log: string;
  clientKey: string;
  hostKeyFp: string;
  hostKeyLine: string;
  /** DOCKER_HOST the ssh sessions get (a dockerd may or may not be started there). */
  dockerSock: string;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'netplumb-test', '-f', path]);
}

/** ssh-keygen's own fingerprint of a public key file, to check ours against. */
function sshKeygenFingerprint(pubPath: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubPath], { encoding: 'utf8' }).split(' ')[1]!;
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function setUpSshd(): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege-separation directory
  const dir = mkdtempSync(join(tmpdir(), 'netplumb-ssh-'));
  const port = await freePort();
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'client_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const dockerSock = join(dir, 'docker.sock');
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'UsePAM no',
      'MaxSessions 64',
      'StrictModes no',
      // SHLVL=1: bash sources ~/.bashrc for commands run by sshd only at shell level 1; this
      // machine's root ~/.bashrc runs `pyenv init` (~70 ms per command). Skipping it makes commands
      // as fast as on a plain host, and fast commands are what expose exit-status races.
      `SetEnv DOCKER_HOST=unix://${dockerSock} SHLVL=1`,
      '',
    ].join('\n'),
  );
  const pub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(' ');
  const sshd: Sshd = {
    dir,
    port,
    config,
    pidFile: join(dir, 'sshd.pid'),
    log: join(dir, 'sshd.log'),
    clientKey: join(dir, 'client_key'),
    hostKeyFp: sshKeygenFingerprint(join(dir, 'host_key.pub')),
    hostKeyLine: `[127.0.0.1]:${port} ${pub[0]} ${pub[1]}`,
    dockerSock,
  };
  await startSshd(sshd);
  return sshd;
}

async function startSshd(s: Sshd): Promise<void> {
  rmSync(s.pidFile, { force: true });
  execFileSync(SSHD, ['-f', s.config, '-E', s.log]); // daemonizes once it listens
  await waitFor('sshd pid file', () => existsSync(s.pidFile));
  await waitFor('sshd to accept', () => canConnect(s.port));
}

function sshdPid(s: Sshd): number | undefined {
  try {
    return Number(readFileSync(s.pidFile, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** The pid and every descendant of it, from /proc (a session sshd outlives its listener otherwise). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function isAlive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Kills the sshd we started and everything under it (sessions, shells, commands): a dead host. */
async function killSshdTree(s: Sshd): Promise<void> {
  const root = sshdPid(s);
  if (root === undefined || !isAlive(root)) return;
  const tree = processTree(root);
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitFor('sshd tree to die', () => tree.every((p) => !isAlive(p)));
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function acceptedLogins(s: Sshd): number {
  try {
    return readFileSync(s.log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('Accepted publickey')).length;
  } catch {
    return 0;
  }
}

// ---- the tests ----------------------------------------------------------------------------

const haveSshd = existsSync(SSHD);
const noSshd = missing('SSH executor against a real sshd', haveSshd, `no ${SSHD}`);
const noDockerd = missing('Docker over SSH', existsSync(DOCKERD), `no ${DOCKERD}`);
let sshd: Sshd;
const executors: SshExecutor[] = [];

function executor(overrides: Partial<SshExecutorConfig> = {}): SshExecutor {
  const e = new SshExecutor({
    address: '127.0.0.1',
    port: sshd.port,
    privateKeyPath: sshd.clientKey,
    hostKeySha256: sshd.hostKeyFp,
    ...overrides,
  });
  executors.push(e);
  return e;
}

/** Words a shell would love to misread, mixed into arbitrary Unicode. */
const nasty = fc.constantFrom(
  "'",
  '"',
  '\\',
  '$',
  '`',
  '$(touch /tmp/netplumb-pwned)',
  '`id`',
  '${HOME}',
  '\n',
  '\t',
  ' ',
  '*',
  '?',
  '~',
  '!',
  '#',
  ';',
  '&',
  '|',
  '>',
  '<',
  '(',
  '{a,b}',
  '-n',
  '--',
  '-e',
  '--help',
  'FOO=bar',
  '=ls',
  'é',
  '日本',
  '🦀',
  '\r',
);
const word = fc.array(fc.oneof(fc.string({ unit: 'binary' }), nasty), { maxLength: 6 }).map((parts) => parts.join('').replaceAll('\0', ''));

describe.skipIf(noSshd)('SshExecutor against a real sshd (needs openssh-server)', () => {
  beforeAll(async () => {
    sshd = await setUpSshd();
  }, 30_000);

  afterAll(async () => {
    await Promise.all(executors.map((e) => e.close()));
    if (sshd) {
      await killSshdTree(sshd);
      rmSync(sshd.dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('computes fingerprints exactly as ssh-keygen -lf does', () => {
    const blob = Buffer.from(readFileSync(join(sshd.dir, 'host_key.pub'), 'utf8').split(' ')[1]!, 'base64');
    expect(fingerprintOfKey(blob)).toBe(sshd.hostKeyFp);
    expect(sshd.hostKeyFp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('runs commands: exit codes, stdout, stderr, stdin', async () => {
    const ssh = executor();
    expect(await ssh.run(['sh', '-c', 'echo out; echo err >&2; exit 3'])).toMatchObject({
      exitCode: 3,
      stdout: 'out\n',
      stderr: 'err\n',
      timedOut: false,
    });
    expect(await ssh.run(['cat'], { stdin: 'line 1\nline 2\n' })).toMatchObject({ exitCode: 0, stdout: 'line 1\nline 2\n' });
    const big = await ssh.run(['wc', '-c'], { stdin: Buffer.alloc(3_000_000, 7) });
    expect(big.stdout.trim()).toBe('3000000');
    // No stdin given: the command sees EOF instead of waiting for the timeout.
    expect(await ssh.run(['cat'], { timeoutMs: 5000 })).toMatchObject({ exitCode: 0, stdout: '', timedOut: false });
    const missing = await ssh.run(['netplumb-no-such-command']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('netplumb-no-such-command');
    expect(ssh.activeChannels).toBe(0);
    expect(ssh.connectionCount).toBe(1);
  }, 30_000);

  it('never loses an exit status, however fast the command (many runs, 8 at a time)', async () => {
    const ssh = executor();
    for (let round = 0; round < 60; round++) {
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, j) =>
            j % 2
              ? ssh.run(['sh', '-c', `cat; exit ${(round + j) % 7}`], { stdin: `r${round}` })
              : ssh.run(['sh', '-c', `exit ${(round + j) % 7}`]), // done before we even send EOF
        ),
      );
      results.forEach((r, j) => {
        expect(r.exitCode).toBe((round + j) % 7);
        expect(r.stdout).toBe(j % 2 ? `r${round}` : '');
      });
    }
    expect(ssh.connectionCount).toBe(1);
    expect(ssh.activeChannels).toBe(0);
  }, 60_000);

  it('(a) any argv arrives byte-identical on the remote side', async () => {
    const ssh = executor();
    await fc.assert(
      fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 8 }), async (argv) => {
        const res = await ssh.run(['printf', '%s\\0', ...argv]);
        expect(res.exitCode).toBe(0);
        const parts = res.stdout.split('\0');
        expect(parts.pop()).toBe('');
        expect(parts).toEqual(argv);
      }),
      { numRuns: 100 },
    );
    expect(existsSync('/tmp/netplumb-pwned')).toBe(false);
    expect(ssh.connectionCount).toBe(1);
  }, 120_000);

  it('(b) connects with the pinned host key and refuses any other before authenticating', async () => {
    expect((await executor().run(['true'])).exitCode).toBe(0);

    keygen(join(sshd.dir, 'other_host_key'));
    const wrongFp = sshKeygenFingerprint(join(sshd.dir, 'other_host_key.pub'));
    const before = acceptedLogins(sshd);
    const wrong = executor({ hostKeySha256: wrongFp });
    const err = await wrong.run(['touch', join(sshd.dir, 'must-not-exist')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).code).toBe('host-key-mismatch');
    expect((err as ExecError).message).toContain(wrongFp);
    expect((err as ExecError).message).toContain(sshd.hostKeyFp);
    expect((err as ExecError).message).toContain(`127.0.0.1:${sshd.port}`);
    expect((err as ExecError).details).toEqual({ expected: wrongFp, actual: sshd.hostKeyFp });
    await new Promise((r) => setTimeout(r, 300)); // let sshd flush its log
    expect(acceptedLogins(sshd)).toBe(before);
    expect(existsSync(join(sshd.dir, 'must-not-exist'))).toBe(false);
    // Every attempt is refused again; nothing is cached as "trusted".
    await expect(wrong.run(['true'])).rejects.toMatchObject({ code: 'host-key-mismatch' });
  }, 30_000);

  it('reports auth failures and unreachable hosts without leaking key material or paths', async () => {
    keygen(join(sshd.dir, 'stranger_key'));
    const stranger = readFileSync(join(sshd.dir, 'stranger_key'), 'utf8');
    const authErr = await executor({ privateKeyPath: undefined, privateKey: stranger })
      .run(['true'])
      .catch((e: unknown) => e);
    expect(authErr).toMatchObject({ code: 'auth-failed' });
    expect((authErr as Error).message).not.toContain('PRIVATE KEY');

    const noFile = await executor({ privateKeyPath: join(sshd.dir, 'no-such-key') })
      .run(['true'])
      .catch((e: unknown) => e);
    expect(noFile).toMatchObject({ code: 'auth-failed' });
    expect((noFile as Error).message).not.toContain(sshd.dir);

    const closedPort = await freePort();
    const started = performance.now();
    const unreachable = await executor({ port: closedPort })
      .run(['true'])
      .catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ code: 'host-unreachable' });
    expect((unreachable as Error).message).toContain(`cannot reach 127.0.0.1:${closedPort}`);
    expect(performance.now() - started).toBeLessThan(3000);
  }, 30_000);

  it('(c) 40 concurrent runs share one connection and never exceed 8 channels', async () => {
    const ssh = executor();
    const probe = join(sshd.dir, 'channels.log');
    const before = acceptedLogins(sshd);
    const results = await Promise.all(
      Array.from({ length: 40 }, () => ssh.run(['sh', '-c', `echo + >> ${probe}; sleep 0.2; echo - >> ${probe}; echo ok`])),
    );
    expect(results.every((r) => r.exitCode === 0 && r.stdout === 'ok\n')).toBe(true);
    expect(ssh.connectionCount).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(acceptedLogins(sshd) - before).toBe(1);
    expect(ssh.maxObservedChannels).toBe(8);
    expect(ssh.activeChannels).toBe(0);
    // Seen from the host: how many of the commands were running at once.
    let running = 0;
    let most = 0;
    for (const line of readFileSync(probe, 'utf8').split('\n')) {
      if (line === '+') most = Math.max(most, ++running);
      if (line === '-') running--;
    }
    expect(most).toBeLessThanOrEqual(8);
    expect(most).toBeGreaterThan(1);
  }, 30_000);

  it('(e) a command past its timeout is killed remotely and reported as timed out', async () => {
    const ssh = executor();
    const started = performance.now();
    const res = await ssh.run(['sh', '-c', 'echo started; sleep 30'], { timeoutMs: 2000 });
    const took = performance.now() - started;
    expect(res).toMatchObject({ exitCode: 124, timedOut: true, stdout: 'started\n' });
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(8000);
    // A command that exits 124 by itself, early, did not time out.
    expect(await ssh.run(['sh', '-c', 'exit 124'])).toMatchObject({ exitCode: 124, timedOut: false });
    // The remote sleep is gone (timeout killed it), not left behind on the host.
    const left = await ssh.run(['sh', '-c', 'pgrep -f "^sleep 30$" || true']);
    expect(left.stdout).toBe('');
  }, 30_000);

  it('close() ends the connection and the executor still works afterwards', async () => {
    const ssh = executor();
    expect((await ssh.run(['true'])).exitCode).toBe(0);
    await ssh.close();
    expect((await ssh.run(['echo', 'again'])).stdout).toBe('again\n');
    expect(ssh.connectionCount).toBe(2);
  }, 30_000);

  it('a host that goes silent (frozen, TCP still open) is detected by keepalive', async () => {
    const ssh = executor({ keepaliveIntervalMs: 500 });
    expect((await ssh.run(['true'])).exitCode).toBe(0);
    const tree = processTree(sshdPid(sshd)!);
    const started = performance.now();
    const running = ssh.run(['sleep', '30'], { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    signalAll(tree.concat(processTree(sshdPid(sshd)!)), 'SIGSTOP');
    try {
      const err = await running;
      expect(err).toMatchObject({ code: 'host-unreachable' });
      expect(performance.now() - started).toBeLessThan(6000); // 3 missed keepalives of 0.5 s, not 30 s
    } finally {
      signalAll(processTree(sshdPid(sshd)!), 'SIGCONT');
    }
    expect((await ssh.run(['echo', 'thawed'])).stdout).toBe('thawed\n');
  }, 30_000);

  it('the local safety net ends runs on a host that went silent, even without keepalive', async () => {
    const ssh = executor({ keepaliveIntervalMs: 600_000 });
    expect((await ssh.run(['true'])).exitCode).toBe(0);
    const started = performance.now();
    const running = ssh.run(['sleep', '30'], { timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 300));
    const frozen = processTree(sshdPid(sshd)!);
    signalAll(frozen, 'SIGSTOP');
    try {
      const res = await running;
      const took = performance.now() - started;
      expect(res).toMatchObject({ exitCode: 124, timedOut: true });
      expect(took).toBeGreaterThanOrEqual(11_000); // timeoutMs + 10 s: the remote timeout could not answer
      expect(took).toBeLessThan(14_000);
      expect(ssh.activeChannels).toBe(0);
      // Still frozen: a new run cannot even open its channel, and gives up by the same deadline.
      const t2 = performance.now();
      await expect(ssh.run(['true'], { timeoutMs: 1000 })).rejects.toMatchObject({
        code: 'host-unreachable',
        message: expect.stringContaining('no answer from'),
      });
      expect(performance.now() - t2).toBeLessThan(14_000);
      expect(ssh.activeChannels).toBe(0);
    } finally {
      signalAll(processTree(sshdPid(sshd)!), 'SIGCONT');
    }
    await ssh.close();
  }, 40_000);

  it('(d) a host that dies mid-command fails the run clearly, and the next run reconnects', async () => {
    const ssh = executor();
    expect((await ssh.run(['true'])).exitCode).toBe(0);
    const started = performance.now();
    const running = ssh.run(['sleep', '30'], { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 500));
    await killSshdTree(sshd);
    const err = await running;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(ExecError);
    expect(err).toMatchObject({ code: 'host-unreachable' });
    expect((err as Error).message).toContain(`127.0.0.1:${sshd.port}`);
    console.log(`[dead host] ${(err as Error).message}`);

    // Host still down: a clear, quick failure, not a hang.
    await expect(ssh.run(['true'])).rejects.toMatchObject({ code: 'host-unreachable' });

    await startSshd(sshd);
    const again = await ssh.run(['echo', 'back']);
    expect(again).toMatchObject({ exitCode: 0, stdout: 'back\n' });
    expect(ssh.connectionCount).toBe(2);
  }, 30_000);

  it('timing: persistent connection vs a fresh ssh process per command', async () => {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ssh = executor();
    await ssh.run(['true']); // connect first: the point is the per-command cost
    const persistent: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      expect((await ssh.run(['true'])).exitCode).toBe(0);
      persistent.push(performance.now() - t);
    }
    const knownHosts = join(sshd.dir, 'known_hosts');
    writeFileSync(knownHosts, `${sshd.hostKeyLine}\n`);
    const local = new LocalExecutor();
    const fresh: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const res = await local.run([
        'ssh',
        '-i',
        sshd.clientKey,
        '-p',
        String(sshd.port),
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'LogLevel=ERROR',
        'root@127.0.0.1',
        'true',
      ]);
      expect(res.exitCode, res.stderr).toBe(0);
      fresh.push(performance.now() - t);
    }
    console.log(
      `[timing] median of 20 × \`true\`: persistent SshExecutor ${median(persistent).toFixed(1)} ms, ` +
        `fresh ssh process ${median(fresh).toFixed(1)} ms`,
    );
    expect(median(persistent)).toBeLessThan(median(fresh));
  }, 60_000);

  // ---- (f) Docker through `docker system dial-stdio` on the same connection ----------------

  describe.skipIf(noDockerd)('(f) Docker over SSH (needs dockerd)', () => {
    let dockerDir: string;
    let dockerPidFile: string;

    beforeAll(async () => {
      dockerDir = join(sshd.dir, 'd');
      dockerPidFile = join(dockerDir, 'docker.pid');
      mkdirSync(dockerDir, { recursive: true });
      // Exactly as TESTBED.md: a private dockerd in the root namespace, no networking of its own.
      execFileSync('sh', [
        '-c',
        'dockerd "$@" >"$0" 2>&1 &',
        join(dockerDir, 'dockerd.log'),
        '--data-root',
        join(dockerDir, 'root'),
        '--exec-root',
        join(dockerDir, 'exec'),
        '-H',
        `unix://${sshd.dockerSock}`,
        '--pidfile',
        dockerPidFile,
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--storage-driver=vfs',
        // Its own containerd namespaces, so it cannot meet other dockerd running on this machine.
        '--containerd-namespace',
        `netplumb-ssh-${sshd.port}`,
        '--containerd-plugins-namespace',
        `netplumb-ssh-${sshd.port}-plugins`,
      ]);
      const local = createDockerClient({ kind: 'local', socketPath: sshd.dockerSock });
      await waitFor(
        'dockerd',
        () =>
          local.ping().then(
            () => true,
            () => false,
          ),
        30_000,
      );
    }, 40_000);

    afterAll(async () => {
      const pid = Number(readFileSync(dockerPidFile, 'utf8').trim());
      if (pid > 0) {
        process.kill(pid, 'SIGTERM');
        await waitFor('dockerd to stop', () => !isAlive(pid), 20_000).catch(() => process.kill(pid, 'SIGKILL'));
      }
    }, 30_000);

    it('talks to the remote dockerd through the executor', async () => {
      const ssh = executor();
      const docker = createDockerClient({ kind: 'ssh', executor: ssh });
      const version = await dockerVersion(docker);
      expect(version).toMatch(/^\d+\.\d+/);
      await expect(resolveContainer(docker, 'netplumb-nope')).rejects.toBeInstanceOf(ContainerNotFoundError);
      await expect(resolveContainer(docker, '../../info')).rejects.toBeInstanceOf(ContainerNotFoundError);
      // Docker answers unclean paths with a redirect; docker-modem would follow it off our agent.
      await expect(docker.getContainer('..%2F..%2Finfo').inspect()).rejects.toThrow(/redirect/i);

      // An image from the host's busybox, uploaded through the SSH channel (a streamed POST).
      const rootfs = join(dockerDir, 'rootfs');
      mkdirSync(join(rootfs, 'bin'), { recursive: true });
      execFileSync('cp', ['/usr/bin/busybox', join(rootfs, 'bin', 'busybox')]);
      for (const app of ['sh', 'sleep']) execFileSync('ln', ['-s', 'busybox', join(rootfs, 'bin', app)]);
      const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 * 1024 * 1024 });
      const { Readable } = await import('node:stream');
      const imported = await docker.importImage(Readable.from([tar]), { repo: 'netplumb-busybox', tag: 'latest' });
      await new Promise((resolve, reject) => docker.modem.followProgress(imported, (e) => (e ? reject(e) : resolve(null))));

      const container = await docker.createContainer({
        name: 'netplumb-web1',
        Image: 'netplumb-busybox:latest',
        Cmd: ['/bin/sleep', '300'],
        HostConfig: { NetworkMode: 'none' },
      });
      try {
        await container.start();
        const info = await resolveContainer(docker, 'netplumb-web1');
        expect(info).toMatchObject({ id: container.id, name: 'netplumb-web1', running: true });
        expect(readFileSync(`/proc/${info.pid}/comm`, 'utf8').trim()).toBe('sleep'); // same machine: a real pid
        expect((await resolveContainer(docker, container.id.slice(0, 12))).id).toBe(container.id);

        // Many API calls at once share the executor's channel budget.
        const many = await Promise.all(Array.from({ length: 20 }, () => dockerVersion(docker)));
        expect(new Set(many)).toEqual(new Set([version]));
        expect(ssh.maxObservedChannels).toBeLessThanOrEqual(8);

        await container.kill();
        await expect(resolveContainer(docker, 'netplumb-web1')).rejects.toBeInstanceOf(ContainerNotRunningError);
        expect(await resolveContainer(docker, 'netplumb-web1', { requireRunning: false })).toMatchObject({ running: false });

        // A named socket on the remote host works too.
        const bySocket = createDockerClient({ kind: 'ssh', executor: ssh, socketPath: sshd.dockerSock });
        expect(await dockerVersion(bySocket)).toBe(version);
      } finally {
        await container.remove({ force: true });
      }
      // Docker streams are kept for the next lookup, then closed when idle: no channel stays open for good.
      await waitFor('channels to close', () => ssh.activeChannels === 0, DOCKER_STREAM_IDLE_MS + 5000);
      expect(ssh.connectionCount).toBe(1);
    }, 60_000);

    // Issue 33, the hang: under load the agent asks for a stream for a queued request, and by the time the stream has
    // its channel the request was served by another one; the new stream is freed unread, and with the free list full
    // the agent destroys it. ssh2 emits 'close' only once the readable side has ended, and nobody ever read this one:
    // before the fix 'close' never came, the agent counted the stream in use for good and its channel slot never came
    // back. Three of those filled the agent (maxSockets 3) and every later Docker lookup queued forever.
    it('a stream destroyed before anyone read it still closes and gives its channel back (5 times)', async () => {
      const ssh = executor();
      for (let i = 1; i <= 5; i++) {
        const stream = await ssh.openStream(['docker', 'system', 'dial-stdio']);
        expect(stream.readableFlowing).toBe(null); // never read, as the agent leaves it
        const closed = new Promise<boolean>((resolve) => {
          stream.once('close', () => resolve(true));
          setTimeout(() => resolve(false), 5_000);
        });
        stream.destroy();
        expect(await closed).toBe(true);
        await waitFor(`stream ${i}: its channel back`, () => ssh.activeChannels === 0, 2_000);
      }
      await ssh.close();
    }, 60_000);

    // The host ends kept streams (dockerd restarted, the idle connection dropped): here their `docker system
    // dial-stdio` processes are killed. Before the fix such a stream never emitted 'close' (ssh2 waits for the readable
    // side to end; nobody read it), so the agent handed it to the next request, whose bytes went nowhere: the lookup
    // hung (issue 33). Now the dead streams leave the agent and give back their channels, and lookups go on.
    it('kept Docker streams the host closed are dropped, not reused: lookups after it answer (5 rounds)', async () => {
      const ssh = executor();
      const docker = createDockerClient({ kind: 'ssh', executor: ssh });
      const version = await dockerVersion(docker);
      for (let round = 1; round <= 5; round++) {
        await Promise.all(Array.from({ length: 6 }, () => dockerVersion(docker)));
        expect(dockerStats(docker).dockerStreamsFree).toBeGreaterThan(0);
        const dialers = processTree(sshdPid(sshd)!).filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes('system dial-stdio');
          } catch {
            return false;
          }
        });
        expect(dialers.length).toBeGreaterThan(0);
        for (const pid of dialers) process.kill(pid, 'SIGKILL');
        await waitFor(`round ${round}: the host's end of the kept streams to go`, () => dialers.every((pid) => !isAlive(pid)), 5_000);
        await waitFor(
          `round ${round}: the closed streams to leave the agent`,
          () => (dockerStats(docker).dockerStreamsFree ?? 0) === 0,
          5_000,
        );
        const t = performance.now();
        const after = await Promise.all(Array.from({ length: 6 }, () => dockerVersion(docker)));
        expect(after).toEqual(Array(6).fill(version));
        expect(performance.now() - t).toBeLessThan(10_000);
      }
      await waitFor('every channel back', () => ssh.activeChannels === 0, DOCKER_STREAM_IDLE_MS + 5_000);
      await ssh.close();
    }, 120_000);
  });
});
