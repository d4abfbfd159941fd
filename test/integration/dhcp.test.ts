/**
 * DHCP on a real sandbox host: a real DHCP server (dnsmasq) in a namespace of the test's own on the OVS bridge's
 * segment; a container (--net=none, no DHCP client in it) attached with addresses "dhcp" gets a lease from the
 * dnsmasq range through busybox udhcpc run from the host; the lease is recorded and shown; traffic reaches the server;
 * a restarted container gets its client back (repair); delete stops the client (pid gone, no process left) and
 * releases the lease (dnsmasq's lease file); a segment without a server fails within the bound, leaving nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReconciler } from '../../src/reconcile/loop.js';
import { startWorld, type World } from './harness.js';

let w: World;
const SRV = 'i18d-srv';
const BARE = 'i18d-bare';
const dir = mkdtempSync(join(tmpdir(), 'i18d-dnsmasq-'));
const PIDFILE = join(dir, 'dnsmasq.pid');
const LEASES = join(dir, 'dnsmasq.leases');
const DHCP_DIR = '/run/netplumb/dhcp';

const sh = (argv: string[], timeoutMs?: number) => w.sb.exec('docker1', argv, timeoutMs ? { timeoutMs } : {});
const post = (path: string, body: unknown) =>
  fetch(w.baseUrl + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const get = async (path: string) => (await fetch(w.baseUrl + path)).json();
const del = (path: string) => fetch(w.baseUrl + path, { method: 'DELETE' });
const inPid = (pid: number, argv: string[]) => sh(['nsenter', '-t', String(pid), '-n', ...argv]);

/** Every live process whose command line names a file of an attachment's DHCP client (all of them: no id). */
function dhcpClientProcesses(id = ''): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmd.includes(`${DHCP_DIR}/${id}`) && !cmd.includes('netplumb-dhcp-')) out.push({ pid: Number(p), cmd });
  }
  return out;
}

const filesOf = (id: string) => (existsSync(DHCP_DIR) ? readdirSync(DHCP_DIR).filter((f) => f.startsWith(`${id}.`)) : []);
const dnsmasqLeases = () => (existsSync(LEASES) ? readFileSync(LEASES, 'utf8') : '');

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  w = await startWorld('i18d', [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }]);
  await w.registerHosts();
  for (const body of [
    { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] },
    { host: 'docker1', name: 'nodhcp', type: 'linux' },
  ]) {
    const r = await post('/bridges', body);
    if (r.status !== 201) throw new Error(`bridge: ${r.status} ${await r.text()}`);
  }
  // The DHCP server's namespace, on the segment through netplumb itself (a static attachment).
  // (Named namespaces are made over SSH, in the host's own mount namespace, where netplumb sees them.)
  for (const ns of [SRV, BARE]) await w.ssh('docker1', ['ip', 'netns', 'del', ns]).catch(() => undefined);
  expect((await w.ssh('docker1', ['ip', 'netns', 'add', SRV])).exitCode).toBe(0);
  expect((await w.ssh('docker1', ['ip', 'netns', 'add', BARE])).exitCode).toBe(0);
  const srv = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { netns: SRV }, addresses: ['10.11.12.2/24'] });
  if (srv.status !== 201) throw new Error(`server attachment: ${srv.status} ${await srv.text()}`);
  // dnsmasq started by the test in the server's namespace (over SSH, where the named namespaces are; it daemonizes
  // and is killed by its pid file).
  const dnsmasq = await w.ssh('docker1', [
    'timeout',
    '20',
    'ip',
    'netns',
    'exec',
    SRV,
    'dnsmasq',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--port=0',
    '--interface=eth1',
    '--bind-interfaces',
    '--dhcp-range=10.11.12.50,10.11.12.60,255.255.255.0,300s',
    '--dhcp-authoritative',
    `--dhcp-leasefile=${LEASES}`,
    `--pid-file=${PIDFILE}`,
    `--log-facility=${join(dir, 'dnsmasq.log')}`,
    '--log-dhcp',
    '--user=root',
  ]);
  expect(dnsmasq.exitCode, dnsmasq.stderr).toBe(0);
  await until('dnsmasq pid file', () => existsSync(PIDFILE) && readFileSync(PIDFILE, 'utf8').trim() !== '');
}, 180_000);

afterAll(async () => {
  // dnsmasq by its pid file (only it), then what the test made.
  if (existsSync(PIDFILE)) {
    const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
  }
  for (const ns of [SRV, BARE]) await w?.ssh('docker1', ['ip', 'netns', 'del', ns]).catch(() => undefined);
  await w?.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('DHCP from a real dnsmasq on the segment', () => {
  let web1 = 0;
  let id = '';
  let leased = '';

  it('a container attached with addresses "dhcp" gets a lease from the dnsmasq range; recorded, shown, traffic flows', async () => {
    web1 = await w.sb.startWeb('docker1', 'web1', 1);
    // The container has no DHCP client of its own (the image is busybox httpd): the host runs one.
    const r = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    id = a.id;
    leased = a.lease.address;
    expect(a.dhcp).toEqual({ client: 'udhcpc' });
    expect(leased).toMatch(/^10\.11\.12\.(5\d|60)\/24$/);
    expect(a.lease).toMatchObject({ router: '10.11.12.2', server: '10.11.12.2', leaseSeconds: 300 });
    expect(a.addresses).toEqual([leased]);
    const shown = await get(`/attachments/${id}`);
    expect(shown).toMatchObject({ addresses: [leased], lease: a.lease });

    const eth1 = JSON.parse((await inPid(web1, ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(eth1.addr_info.map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)).toContain(leased);
    expect((await inPid(web1, ['ip', 'route', 'show', 'default'])).stdout).toMatch(/^default via 10\.11\.12\.2 dev eth1/);
    const ping = await inPid(web1, ['ping', '-c', '1', '-W', '2', '10.11.12.2']);
    expect(ping.exitCode, ping.stdout).toBe(0);
    expect(dnsmasqLeases()).toContain(` ${leased.split('/')[0]} `);

    // Tracked: the pid file names the running udhcpc, and it is the only client process for this attachment.
    const pid = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('udhcpc');
    expect(dhcpClientProcesses(id).map((p) => p.pid)).toEqual([pid]);
    const o = await get(`/attachments/${id}?observe=true`);
    expect(o.observed.dhcp).toMatchObject({ client: 'udhcpc', running: true, pid, inTarget: true, lease: { address: leased } });
    expect(o.observed.drift).toEqual([]);
  });

  it('the client killed → observe says so (drift); repair starts it again and the lease comes back', async () => {
    const before = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    process.kill(before, 'SIGKILL');
    await until('the client gone', () => !existsSync(`/proc/${before}`));
    const o = await get(`/attachments/${id}?observe=true`);
    expect(o.observed.dhcp).toMatchObject({ running: false });
    expect(o.observed.drift).toContainEqual({ field: 'dhcpClient', desired: 'running', actual: 'stopped' });
    const r = await post(`/attachments/${id}/repair`, {});
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(200);
    expect(a.lease.address).toBe(leased);
    const after = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    expect(after).not.toBe(before);
    expect(dhcpClientProcesses(id).map((p) => p.pid)).toEqual([after]);
    expect((await get(`/attachments/${id}?observe=true`)).observed.drift).toEqual([]);
  });

  it('docker restart → repair re-attaches in the new namespace and runs the client there (the old one stopped)', async () => {
    const old = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    expect((await sh(['docker', 'restart', '-t', '0', 'web1'], 30_000)).exitCode).toBe(0);
    web1 = Number((await sh(['docker', 'inspect', '-f', '{{.State.Pid}}', 'web1'])).stdout.trim());
    const o = await get(`/attachments/${id}?observe=true`);
    // The old client still runs in the old namespace (which it keeps alive): not the target's.
    expect(o.observed.dhcp).toMatchObject({ running: true, pid: old, inTarget: false });
    const r = await post(`/attachments/${id}/repair`, {});
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(200);
    expect(a).toMatchObject({ state: 'ready', resolved: { pid: web1 }, lease: { address: leased } });
    expect(existsSync(`/proc/${old}`)).toBe(false);
    const now = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    expect(dhcpClientProcesses(id).map((p) => p.pid)).toEqual([now]);
    const ping = await inPid(web1, ['ping', '-c', '1', '-W', '2', '10.11.12.2']);
    expect(ping.exitCode, ping.stdout).toBe(0);
    expect((await get(`/attachments/${id}?observe=true`)).observed).toMatchObject({ drift: [], dhcp: { inTarget: true } });
  });

  it('delete stops the client (no process left) and releases the lease (gone from dnsmasq)', async () => {
    const pid = Number(readFileSync(`${DHCP_DIR}/${id}.pid`, 'utf8').trim());
    const t0 = Date.now();
    expect((await del(`/attachments/${id}`)).status).toBe(204);
    console.log(`[i18d] delete with release took ${Date.now() - t0} ms`);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(dhcpClientProcesses(id)).toEqual([]);
    expect(filesOf(id)).toEqual([]);
    // DHCPRELEASE: dnsmasq drops the lease from its file.
    await until('the lease released', () => !dnsmasqLeases().includes(` ${leased.split('/')[0]} `), 5000);
    expect(readFileSync(join(dir, 'dnsmasq.log'), 'utf8')).toMatch(
      new RegExp(`DHCPRELEASE\\(eth1\\) ${leased.split('/')[0]!.replaceAll('.', '\\.')}`),
    );
    const eth1 = await inPid(web1, ['ip', 'link', 'show', 'dev', 'eth1']);
    expect(eth1.exitCode).not.toBe(0);
  });

  it('with the reconcile loop: docker stop → the client is stopped; docker start → re-attached, a client in the new namespace', async () => {
    const loop = startReconciler(w.deps, { intervalMs: 0, tickMs: 200 });
    try {
      const r = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' });
      const a = await r.json();
      expect(r.status, JSON.stringify(a)).toBe(201);
      const first = Number(readFileSync(`${DHCP_DIR}/${a.id}.pid`, 'utf8').trim());
      expect((await sh(['docker', 'stop', '-t', '0', 'web1'], 30_000)).exitCode).toBe(0);
      await until('the client stopped with its container', () => !existsSync(`/proc/${first}`) && filesOf(a.id).length === 0, 20_000);
      expect((await get(`/attachments/${a.id}`)).state).toBe('target-stopped');
      expect(dhcpClientProcesses(a.id)).toEqual([]);
      expect((await sh(['docker', 'start', 'web1'], 30_000)).exitCode).toBe(0);
      web1 = Number((await sh(['docker', 'inspect', '-f', '{{.State.Pid}}', 'web1'])).stdout.trim());
      await until(
        're-attached with a lease',
        async () => {
          const x = await get(`/attachments/${a.id}`);
          return x.state === 'ready' && x.resolved?.pid === web1 && x.lease !== null;
        },
        30_000,
      );
      const o = await get(`/attachments/${a.id}?observe=true`);
      expect(o.observed).toMatchObject({ drift: [], dhcp: { running: true, inTarget: true } });
      expect(dhcpClientProcesses(a.id).map((p) => p.pid)).toEqual([o.observed.dhcp.pid]);
      const ping = await inPid(web1, ['ping', '-c', '1', '-W', '2', '10.11.12.2']);
      expect(ping.exitCode, ping.stdout).toBe(0);
      expect((await del(`/attachments/${a.id}`)).status).toBe(204);
      expect(dhcpClientProcesses(a.id)).toEqual([]);
    } finally {
      await loop.stop();
    }
  }, 90_000);

  it('a segment without a DHCP server → dhcp-no-lease within the bound; nothing left (no client, no interface, no files)', async () => {
    const links = async () => (await sh(['ip', '-o', 'link', 'show'])).stdout.split('\n').length;
    const hostLinks = await links();
    const clients = dhcpClientProcesses().length;
    const t0 = Date.now();
    const r = await post('/attachments', { bridge: 'docker1/nodhcp', target: { netns: BARE }, addresses: 'dhcp' });
    const ms = Date.now() - t0;
    const p = await r.json();
    console.log(`[i18d] no server: ${r.status} after ${ms} ms: ${p.detail}`);
    expect(r.status, JSON.stringify(p)).toBe(504);
    expect(p.type).toBe('https://netplumb.dev/problems/dhcp-no-lease');
    expect(p.detail).toMatch(/^no DHCP lease from the segment within 15 s \(on eth1 on docker1\): is a DHCP server on the segment\?/);
    // The bound is 15 s of waiting; generous for a busy 2-core machine.
    expect(ms).toBeGreaterThanOrEqual(15_000);
    expect(ms).toBeLessThan(45_000);
    const job = await get(`/jobs/${p.jobId}`);
    const gone = job.resource.id as string;
    expect(filesOf(gone)).toEqual([]);
    expect(dhcpClientProcesses(gone)).toEqual([]);
    expect(dhcpClientProcesses().length).toBe(clients);
    expect(await links()).toBe(hostLinks);
    expect((await w.ssh('docker1', ['ip', '-n', BARE, '-o', 'link', 'show'])).stdout.trim().split('\n')).toHaveLength(1);
    expect((await get('/attachments')).items.map((a: { id: string }) => a.id)).not.toContain(gone);
  }, 60_000);
});
