/**
 * ops/dhcp.ts: the client choice, lease-file and status parsing, and our event scripts run for real by sh with a
 * recording `ip` on PATH (dhclient is not on this machine, so this is how its script is exercised; udhcpc's also runs
 * against a real dnsmasq in test/integration/dhcp.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  chooseDhcpClient,
  dhcpClientArgv,
  dhcpFiles,
  dhcpScript,
  dhcpStartSteps,
  dhcpStopSteps,
  parseDhcpStatus,
  parseLeaseFile,
  staticAddressing,
  withLease,
  type DhcpClientName,
} from '../../src/ops/dhcp.js';

const ID = 'att_abcdefghijklmnopqrstuvwxyz';
const dir = mkdtempSync(join(tmpdir(), 'np-dhcp-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('choosing the client', () => {
  it('the requested one, else the first supported the host has; dhcpcd refused; none → refused', () => {
    expect(chooseDhcpClient('dhclient', ['udhcpc', 'dhclient'])).toEqual({ client: 'dhclient' });
    expect(chooseDhcpClient(null, ['udhcpc', 'dhclient'])).toEqual({ client: 'udhcpc' });
    expect(chooseDhcpClient(null, ['dhclient', 'dhcpcd'])).toEqual({ client: 'dhclient' });
    expect(chooseDhcpClient(null, null)).toEqual({ client: 'udhcpc' });
    expect(chooseDhcpClient('dhcpcd', ['dhcpcd'])).toMatchObject({ refused: expect.stringMatching(/^dhcpcd is not supported/) });
    expect(chooseDhcpClient(null, ['dhcpcd'])).toMatchObject({ refused: expect.stringMatching(/^dhcpcd is not supported/) });
    expect(chooseDhcpClient(null, [])).toEqual({ refused: 'no DHCP client on the host' });
  });
});

describe('plans', () => {
  it('files are named by the id only (anything else is refused before a path is built)', () => {
    expect(dhcpFiles(ID).pid).toBe(`/run/netplumb/dhcp/${ID}.pid`);
    expect(() => dhcpFiles('../etc/passwd')).toThrow(TypeError);
    expect(() => dhcpFiles('att_x;rm')).toThrow(TypeError);
  });

  it('no steps without DHCP; start is undone by the stop; the stop is one step', () => {
    const staticD = { hostId: 'host_1', dhcp: null };
    expect(dhcpStartSteps(staticD, ID, 'eth1', '/run/netns/x')).toEqual([]);
    expect(dhcpStopSteps(staticD, ID)).toEqual([]);
    const d = { hostId: 'host_1', dhcp: { client: 'udhcpc' as const } };
    const [script, start, wait] = dhcpStartSteps(d, ID, 'eth1', '/run/netns/x');
    expect(script!.undo).toEqual(['rm', '-f', dhcpFiles(ID).script]);
    expect(start!.undo).toEqual(dhcpStopSteps(d, ID)[0]!.argv);
    expect(start!.undoWhenFailed).toBe(true);
    expect(wait!.description).toBe('wait for a DHCP lease on eth1 (up to 15 s)');
    expect(start!.argv.slice(3, 9)).toEqual([
      'netplumb-dhcp-start',
      '/run/netplumb/dhcp',
      dhcpFiles(ID).pid,
      dhcpFiles(ID).lease,
      dhcpFiles(ID).log,
      '/run/netns/x',
    ]);
  });

  it('the leased address is the record address; the static part has none', () => {
    const lease = { address: '10.0.0.5/24', router: null, server: null, leaseSeconds: 60, obtainedAt: 'now' };
    expect(withLease({ dhcp: { client: 'udhcpc' }, addresses: [], lease: null }, lease)).toEqual({
      dhcp: { client: 'udhcpc' },
      addresses: ['10.0.0.5/24'],
      lease,
    });
    expect(withLease({ dhcp: null, addresses: ['10.1.1.1/24'], lease: null }, lease).addresses).toEqual(['10.1.1.1/24']);
    expect(staticAddressing({ dhcp: { client: null }, addresses: ['10.0.0.5/24'] }).addresses).toEqual([]);
  });
});

describe('parsing', () => {
  it('lease files: the facts; nothing without a valid address', () => {
    expect(parseLeaseFile('address=10.11.12.55/24\nrouter=10.11.12.2\nserver=10.11.12.2\nlease=300\n', 'T')).toEqual({
      address: '10.11.12.55/24',
      router: '10.11.12.2',
      server: '10.11.12.2',
      leaseSeconds: 300,
      obtainedAt: 'T',
    });
    expect(parseLeaseFile('address=10.0.0.9/16\nrouter=\nserver=\nlease=\n', 'T')).toMatchObject({
      router: null,
      server: null,
      leaseSeconds: null,
    });
    expect(parseLeaseFile('', 'T')).toBeNull();
    expect(parseLeaseFile('address=10.0.0.9\n', 'T')).toBeNull();
  });

  it('status: running in the target, in another namespace, or not at all', () => {
    expect(parseDhcpStatus({ exitCode: 0, stdout: '77\n4026532999\n4026532999\n' })).toEqual({ running: true, pid: 77, inTarget: true });
    expect(parseDhcpStatus({ exitCode: 0, stdout: '77\n4026532111\n4026532999\n' })).toEqual({ running: true, pid: 77, inTarget: false });
    expect(parseDhcpStatus({ exitCode: 0, stdout: '\n\n4026532999\n' })).toEqual({ running: false, pid: null, inTarget: null });
    expect(parseDhcpStatus(undefined)).toEqual({ running: false, pid: null, inTarget: null });
  });
});

/** Runs our script for one event with `ip` recorded; the lease file redirected into the test's folder. */
function runScript(client: DhcpClientName, args: string[], env: Record<string, string>) {
  const bin = join(dir, 'bin');
  if (!existsSync(bin)) {
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'ip'), `#!/bin/sh\necho "ip $*" >> "${join(dir, 'ip.log')}"\n`);
    chmodSync(join(bin, 'ip'), 0o755);
  }
  const lease = join(dir, `${client}.lease`);
  const script = join(dir, `${client}.sh`);
  writeFileSync(script, dhcpScript(client, ID).replaceAll(dhcpFiles(ID).lease, lease));
  rmSync(join(dir, 'ip.log'), { force: true });
  execFileSync('sh', [script, ...args], { env: { PATH: `${bin}:${process.env.PATH}`, ...env } });
  const ip = existsSync(join(dir, 'ip.log')) ? readFileSync(join(dir, 'ip.log'), 'utf8').trim().split('\n') : [];
  return { ip, lease: existsSync(lease) ? readFileSync(lease, 'utf8') : null };
}

describe('event scripts (run by sh)', () => {
  it('udhcpc: bound applies address and router and writes the lease; a renew to another address drops the old; deconfig clears', () => {
    const base = { interface: 'eth1', ip: '10.11.12.55', subnet: '255.255.255.0', router: '10.11.12.2 10.11.12.3', serverid: '10.11.12.2' };
    const bound = runScript('udhcpc', ['bound'], { ...base, lease: '300' });
    expect(bound.ip).toEqual([
      'ip addr replace 10.11.12.55/24 dev eth1',
      'ip link set dev eth1 up',
      'ip route replace default via 10.11.12.2 dev eth1',
    ]);
    expect(bound.lease).toBe('address=10.11.12.55/24\nrouter=10.11.12.2\nserver=10.11.12.2\nlease=300\n');
    // busybox's own $mask (prefix length) wins over the dotted subnet.
    const renew = runScript('udhcpc', ['renew'], { ...base, ip: '10.11.12.56', mask: '25', lease: '300' });
    expect(renew.ip).toEqual([
      'ip addr replace 10.11.12.56/25 dev eth1',
      'ip addr del 10.11.12.55/24 dev eth1',
      'ip link set dev eth1 up',
      'ip route replace default via 10.11.12.2 dev eth1',
    ]);
    const deconfig = runScript('udhcpc', ['deconfig'], { interface: 'eth1' });
    expect(deconfig.ip).toEqual(['ip link set dev eth1 up', 'ip addr del 10.11.12.56/25 dev eth1']);
    expect(deconfig.lease).toBeNull();
  });

  it('dhclient: PREINIT up, BOUND applies (dotted mask → prefix), RELEASE clears', () => {
    expect(runScript('dhclient', [], { reason: 'PREINIT', interface: 'eth1' }).ip).toEqual(['ip link set dev eth1 up']);
    const bound = runScript('dhclient', [], {
      reason: 'BOUND',
      interface: 'eth1',
      new_ip_address: '192.168.7.20',
      new_subnet_mask: '255.255.240.0',
      new_routers: '192.168.7.1',
      new_dhcp_server_identifier: '192.168.7.1',
      new_dhcp_lease_time: '600',
    });
    expect(bound.ip).toEqual([
      'ip addr replace 192.168.7.20/20 dev eth1',
      'ip link set dev eth1 up',
      'ip route replace default via 192.168.7.1 dev eth1',
    ]);
    expect(parseLeaseFile(bound.lease!, 'T')).toEqual({
      address: '192.168.7.20/20',
      router: '192.168.7.1',
      server: '192.168.7.1',
      leaseSeconds: 600,
      obtainedAt: 'T',
    });
    const release = runScript('dhclient', [], { reason: 'RELEASE', interface: 'eth1' });
    expect(release.ip).toEqual(['ip addr del 192.168.7.20/20 dev eth1']);
    expect(release.lease).toBeNull();
  });

  it('client argv: udhcpc releases on exit (-R) and keeps running (-f, no -q/-n); dhclient with its own files', () => {
    const u = dhcpClientArgv('udhcpc', ID, 'eth1');
    expect(u).toContain('-R');
    expect(u).not.toContain('-q');
    expect(u).not.toContain('-n');
    expect(dhcpClientArgv('dhclient', ID, 'eth2').at(-1)).toBe('eth2');
  });
});

/** The start and stop shell scripts of the plan, run for real with a stand-in client that daemonizes like dhclient -nw. */
describe('start and stop (run by sh; the client a stand-in)', () => {
  const d = { hostId: 'host_1', dhcp: { client: 'dhclient' as const } };
  const [, start] = dhcpStartSteps(d, ID, 'eth1', '/run/netns/x');
  const [stop] = dhcpStopSteps(d, ID);
  const work = join(dir, 'run');
  const pf = join(work, 'c.pid');
  const lease = join(work, 'c.lease');
  const bin = join(dir, 'fakebin');
  const started: number[] = [];
  afterAll(() => {
    for (const p of started) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  const alive = (p: number) => existsSync(`/proc/${p}`);
  const runStart = () => {
    const out = execFileSync(
      'sh',
      ['-c', start!.argv[2]!, 'netplumb-dhcp-start', work, pf, lease, join(work, 'c.log'), '/proc/self/ns/net', 'dhclient', '-pf', pf],
      { env: { PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' },
    );
    const pid = Number(out.trim());
    started.push(pid);
    return pid;
  };

  it('start: a daemonizing client is found by its pid file; a second start stops the first; stop ends it and removes the files', () => {
    execFileSync('mkdir', ['-p', bin]);
    // Like dhclient -nw: the first process exits at once, its daemon writes the pid file (its command line holds the path).
    writeFileSync(
      join(bin, 'dhclient'),
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -pf ] && pf=$2; shift; done\nsh -c 'sleep 0.2; echo $$ > "$1"; while :; do sleep 0.1; done' fake-dhclientd "$pf" </dev/null >/dev/null 2>&1 &\nexit 0\n`,
    );
    chmodSync(join(bin, 'dhclient'), 0o755);
    const first = runStart();
    expect(alive(first)).toBe(true);
    expect(readFileSync(`/proc/${first}/cmdline`, 'utf8')).toContain(pf);
    writeFileSync(lease, 'address=10.0.0.2/24\n');
    const second = runStart();
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
    // The old lease file went with the old client (the wait step waits for the new one's).
    expect(existsSync(lease)).toBe(false);
    writeFileSync(lease, 'address=10.0.0.2/24\n');
    execFileSync('sh', ['-c', stop!.argv[2]!, 'netplumb-dhcp-stop', pf, lease]);
    expect(alive(second)).toBe(false);
    expect(existsSync(pf)).toBe(false);
    expect(existsSync(lease)).toBe(false);
  });

  it('stop leaves alone a process whose pid the file names but which is not ours (a reused pid)', () => {
    const other = Number(execFileSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim());
    started.push(other);
    writeFileSync(pf, `${other}\n`);
    execFileSync('sh', ['-c', stop!.argv[2]!, 'netplumb-dhcp-stop', pf]);
    expect(alive(other)).toBe(true);
    expect(existsSync(pf)).toBe(false);
  });

  it('a client that never writes its pid file fails the start with what it said', () => {
    writeFileSync(join(bin, 'dhclient'), '#!/bin/sh\necho "dhclient: cannot open eth9" >&2\nexit 1\n');
    chmodSync(join(bin, 'dhclient'), 0o755);
    let err = '';
    try {
      runStart();
    } catch (e) {
      err = String((e as { stderr?: string }).stderr);
    }
    expect(err).toContain('dhclient: cannot open eth9');
    expect(err).toContain('the DHCP client did not start');
  });
});
