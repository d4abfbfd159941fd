/** Attachments on a real sandbox host: real dockerd, real containers, real OVS (userspace datapath). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from './harness.js';

let w: World;
let sleeper: ChildProcess | undefined;
const NETNS = 'ibatt-blue';

beforeAll(async () => {
  w = await startWorld('iat', [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }]);
  await w.registerHosts();
  const mk = async (body: object) => {
    const r = await post('/bridges', body);
    if (r.status !== 201) throw new Error(`bridge: ${r.status} ${await r.text()}`);
  };
  await mk({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  await mk({ host: 'docker1', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] });
  await mk({ host: 'docker1', name: 'ovs_vlan' });
});

afterAll(async () => {
  if (sleeper?.pid) process.kill(sleeper.pid, 'SIGKILL');
  await w?.ssh('docker1', ['ip', 'netns', 'del', NETNS]).catch(() => undefined);
  await w?.close();
});

const sh = (argv: string[]) => w.sb.exec('docker1', argv);
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(w.baseUrl + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
const del = (path: string) => fetch(w.baseUrl + path, { method: 'DELETE' });
const inPid = (pid: number, argv: string[]) => sh(['nsenter', '-t', String(pid), '-n', ...argv]);

/** The host's interfaces and OVS ports (and optionally a target's), as comparable text. */
async function listing(pid?: number): Promise<string> {
  const names = (await sh(['ip', '-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
    .filter(Boolean)
    .sort();
  const ports = [];
  for (const br of (await sh(['ovs-vsctl', 'list-br'])).stdout.split('\n').filter(Boolean)) {
    ports.push(`${br}: ${(await sh(['ovs-vsctl', 'list-ports', br])).stdout.split('\n').filter(Boolean).join(',')}`);
  }
  const inner = pid
    ? (await inPid(pid, ['ip', '-o', 'link', 'show'])).stdout
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0])
        .filter(Boolean)
        .sort()
    : [];
  return JSON.stringify({ names, ports, inner });
}

describe('attachments on a sandbox host', () => {
  let web1 = 0;

  it('web1 (--net=none) on the OVS bridge with 10.11.12.100/24: the host fetches its page over TCP', async () => {
    web1 = await w.sb.startWeb('docker1', 'web1', 1);
    const r = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a).toMatchObject({
      ifname: 'eth1',
      addresses: ['10.11.12.100/24'],
      txChecksumOffloadOff: true,
      resolved: { pid: web1, containerName: 'web1' },
    });
    const eth1 = JSON.parse((await inPid(web1, ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(eth1.addr_info.some((x: { local: string }) => x.local === '10.11.12.100')).toBe(true);
    expect((await sh(['ovs-vsctl', 'get', 'Interface', a.hostIfname, 'external_ids:netplumb-id'])).stdout.trim().replaceAll('"', '')).toBe(
      a.id,
    );
    const curl = await sh(['curl', '-s', '-m', '10', 'http://10.11.12.100/']);
    expect(curl.stdout, curl.stderr).toContain('Web Server #1');
  });

  it('a second interface eth0 on the Linux bridge with a gateway: default route via 172.17.0.1 dev eth0', async () => {
    const r = await post('/attachments', {
      bridge: 'docker1/docker0',
      target: { container: 'web1' },
      ifname: 'eth0',
      addresses: ['172.17.0.100/16'],
      gateway: '172.17.0.1',
    });
    expect(r.status, await r.clone().text()).toBe(201);
    const route = await inPid(web1, ['ip', 'route', 'show', 'default']);
    expect(route.stdout.trim()).toMatch(/^default via 172\.17\.0\.1 dev eth0/);
    const ping = await inPid(web1, ['ping', '-c', '1', '-W', '2', '172.17.0.1']);
    expect(ping.exitCode, ping.stdout).toBe(0);
  });

  it('{netns} and {pid} targets work on namespaces made in the test', async () => {
    // made over SSH, as a user would on a real host (the sandbox's sshd has its own mount namespace)
    expect((await w.ssh('docker1', ['ip', 'netns', 'add', NETNS])).exitCode).toBe(0);
    const n = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { netns: NETNS }, addresses: ['10.11.12.150/24'] });
    expect(n.status, await n.clone().text()).toBe(201);
    expect((await w.ssh('docker1', ['ip', 'netns', 'exec', NETNS, 'ping', '-c', '1', '-W', '2', '10.11.12.1'])).exitCode).toBe(0);

    // a process in a fresh network namespace, started by this test inside docker1
    sleeper = spawn('ip', ['netns', 'exec', w.sb.host('docker1').netns, 'unshare', '-n', 'sleep', '600'], { stdio: 'ignore' });
    let pid = 0;
    for (let i = 0; i < 50 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ps = await sh(['pgrep', '-n', '-f', '^sleep 600$']);
      pid = Number(ps.stdout.trim()) || 0;
    }
    expect(pid).toBeGreaterThan(0);
    const p = await post('/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { pid },
      addresses: ['10.11.12.151/24'],
      mac: '02:00:0a:0b:0c:97',
      mtu: 1400,
    });
    expect(p.status, await p.clone().text()).toBe(201);
    const link = JSON.parse((await inPid(pid, ['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(link).toMatchObject({ address: '02:00:0a:0b:0c:97', mtu: 1400 });
    expect((await inPid(pid, ['ping', '-c', '1', '-W', '2', '10.11.12.150'])).exitCode).toBe(0);
  });

  it('VLAN: two containers on tag 10 reach each other, a third on tag 20 does not', async () => {
    const pids: number[] = [];
    for (const [i, tag] of [
      [1, 10],
      [2, 10],
      [3, 20],
    ] as const) {
      pids.push(await w.sb.startWeb('docker1', `vlan${i}`, 1));
      const r = await post('/attachments', {
        bridge: 'docker1/ovs_vlan',
        target: { container: `vlan${i}` },
        addresses: [`10.50.0.${i}/24`],
        vlan: tag,
      });
      expect(r.status, await r.clone().text()).toBe(201);
      expect((await r.json()).vlan).toBe(tag);
    }
    expect((await inPid(pids[0]!, ['ping', '-c', '2', '-W', '2', '10.50.0.2'])).exitCode).toBe(0);
    const blocked = await inPid(pids[0]!, ['ping', '-c', '2', '-W', '1', '10.50.0.3']);
    expect(blocked.exitCode).not.toBe(0);
  });

  it('a missing container, a stopped one, an ifname clash and a failure mid-plan each leave the host as before', async () => {
    const stopped = await w.sb.startWeb('docker1', 'stopped1', 1);
    expect(stopped).toBeGreaterThan(0);
    await sh(['docker', 'stop', '-t', '1', 'stopped1']);
    const before = await listing(web1);

    const missing = await post('/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'nosuch' },
      addresses: ['10.11.12.9/24'],
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      type: 'https://netplumb.dev/problems/container-not-found',
      detail: expect.stringContaining('nosuch'),
    });

    const notRunning = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'stopped1' } });
    expect(notRunning.status).toBe(409);
    expect((await notRunning.json()).detail).toContain('stopped1');

    const clash = await post('/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, ifname: 'eth1' });
    expect(clash.status).toBe(409);
    expect((await clash.json()).errors[0].pointer).toBe('/ifname');

    // fails at the very last step (a route via a gateway no interface reaches): everything before is undone
    const mid = await post('/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1' },
      ifname: 'eth7',
      addresses: ['10.11.12.107/24'],
      routes: [{ to: '10.99.0.0/16', via: '10.250.0.1' }],
    });
    expect(mid.status).toBe(502);
    const p = await mid.json();
    expect(p.type).toBe('https://netplumb.dev/problems/command-failed');
    const log = (await w.np.jobs.logs(p.jobId, { limit: 1000 })).items.map((l) => l.text);
    expect(log.some((t) => t.includes('undoing'))).toBe(true);
    expect(log.some((t) => t.includes('del-port'))).toBe(true);

    expect(await listing(web1)).toBe(before);
    expect((await w.np.api.GET('/attachments', { params: { query: { container: 'web1' } } })).data!.items).toHaveLength(2);
  });

  it("a pid in the host's own namespace is refused before anything is made", async () => {
    const before = await listing();
    const sshd = Number(readFileSync(w.sb.host('docker1').sshdPidFile, 'utf8').trim());
    const r = await post('/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { pid: sshd },
      addresses: ['10.11.12.99/24'],
      gateway: '10.11.12.1',
    });
    expect(r.status).toBe(409);
    expect((await r.json()).detail).toContain('own network namespace');
    expect(await listing()).toBe(before);
  });

  it('delete removes both ends and the OVS port; the same request again works; a replay runs once', async () => {
    const pid = await w.sb.startWeb('docker1', 'web3', 1);
    const body = { bridge: 'docker1/ovs_bridge', target: { container: 'web3' }, addresses: ['10.11.12.103/24'] };
    const a = await (await post('/attachments', body)).json();
    expect((await inPid(pid, ['ip', 'link', 'show', 'dev', 'eth1'])).exitCode).toBe(0);
    expect((await del(`/attachments/${a.id}`)).status).toBe(204);
    expect((await sh(['ip', 'link', 'show', 'dev', a.hostIfname])).exitCode).not.toBe(0);
    expect((await inPid(pid, ['ip', 'link', 'show', 'dev', 'eth1'])).exitCode).not.toBe(0);
    expect((await sh(['ovs-vsctl', 'list-ports', 'ovs_bridge'])).stdout).not.toContain(a.hostIfname);
    expect((await del(`/attachments/${a.id}`)).status).toBe(404);

    const key = { 'Idempotency-Key': 'iat-web3-again' };
    const r1 = await post('/attachments', body, key);
    expect(r1.status).toBe(201);
    const r2 = await post('/attachments', body, key);
    expect(r2.status).toBe(201);
    expect(r2.headers.get('idempotency-replayed')).toBe('true');
    const a2 = await r1.json();
    expect((await r2.json()).id).toBe(a2.id);
    expect((await w.np.jobs.list({ resource: a2.id })).items).toHaveLength(1);
    const veths = (await inPid(pid, ['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes('eth'));
    expect(veths).toHaveLength(1);
    expect((await sh(['curl', '-s', '-m', '10', 'http://10.11.12.103/'])).stdout).toContain('Web Server #1');
  });
});
