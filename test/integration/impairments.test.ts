/**
 * Impairments and cable pulls on real sandbox hosts: a container (busybox httpd) attached to an OVS bridge (userspace
 * datapath), its peer the host's own bridge address; a Linux-bridge VXLAN tunnel between two hosts. Loss is counted
 * over 200 pings, rate timed over 2 MB transfers with curl, the cable seen as NO-CARRIER inside the container.
 * Delay needs netem: where the kernel has it the RTT is measured, where it lacks it that test is skipped (the reason
 * in its name and in `npm test`'s "not exercised here" line) and the refusal (422, no job) is tested instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernel, missing } from '../helpers/capabilities.js';
import { startWorld, type World } from './harness.js';

let w: World;
let httpd: ChildProcess | undefined;
let wwwDir = '';
let web = 0;
let att: { id: string; hostIfname: string };

const HOST_IP = '10.77.0.1';
const WEB_IP = '10.77.0.100';
const TOPO_NS = 'i17-topo';
/** The sandbox hosts share this kernel: what it has decides which delay test runs (the probe test checks they agree). */
const NETEM = kernel().netem;

beforeAll(async () => {
  w = await startWorld('i17');
  await w.registerHosts();
  await w.np.bridges.create({ host: 'docker1', name: 'br17', addresses: [`${HOST_IP}/24`] });
  await w.np.bridges.create({ host: 'docker1', name: 'lx17', type: 'linux', addresses: ['10.78.0.1/24'] });
  await w.np.bridges.create({ host: 'docker3', name: 'lx17', type: 'linux', addresses: ['10.78.0.2/24'] });
  await w.np.bridges.create({ host: 'docker3', name: 'br17', addresses: ['10.77.0.2/24'] });
  web = await w.sb.startWeb('docker1', 'web17', 1);
  // 2 MB for the container to serve (busybox has dd) …
  const dd = await sh('docker1', ['docker', 'exec', 'web17', '/bin/busybox', 'dd', 'if=/dev/zero', 'of=/www/big', 'bs=1024', 'count=2048']);
  if (dd.exitCode !== 0) throw new Error(`dd in the container: ${dd.stderr}`);
  // … and 2 MB on the host, served by busybox httpd in docker1's namespace (towards the container).
  wwwDir = mkdtempSync(path.join(tmpdir(), 'i17-www-'));
  writeFileSync(path.join(wwwDir, 'big'), Buffer.alloc(2 * 1024 * 1024));
  httpd = spawn('ip', ['netns', 'exec', w.sb.host('docker1').netns, 'busybox', 'httpd', '-f', '-p', `${HOST_IP}:8017`, '-h', wwwDir], {
    stdio: 'ignore',
  });
  att = await w.np.attachments.create({ bridge: 'docker1/br17', target: { container: 'web17' }, addresses: [`${WEB_IP}/24`] });
}, 180_000);

afterAll(async () => {
  await w?.ssh('docker1', ['ip', 'netns', 'del', TOPO_NS]).catch(() => undefined);
  if (httpd?.pid) process.kill(httpd.pid, 'SIGKILL');
  if (wwwDir) rmSync(wwwDir, { recursive: true, force: true });
  await w?.close();
});

const sh = (host: string, argv: string[], timeoutMs = 60_000) => w.sb.exec(host, argv, { timeoutMs });
const inWeb = (argv: string[], timeoutMs = 60_000) => sh('docker1', ['nsenter', '-t', String(web), '-n', ...argv], timeoutMs);
const call = (method: string, p: string, body?: unknown) =>
  fetch(w.baseUrl + p, { method, ...(body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}) });

/** Percent of 200 echoes lost (fast: 20 ms apart). */
async function lossOf(host: string, to: string): Promise<number> {
  const r = await sh(host, ['ping', '-q', '-c', '200', '-i', '0.02', '-W', '1', to]);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`ping output: ${r.stdout} ${r.stderr}`);
  return 100 - (Number(m[2]) * 100) / Number(m[1]);
}

/** Seconds curl took for 2 MB (throws when the transfer did not complete). */
async function transfer(where: 'from-container' | 'to-container'): Promise<number> {
  const argv = ['curl', '-s', '-o', '/dev/null', '-m', '30', '-w', '%{size_download} %{time_total}'];
  const r =
    where === 'from-container'
      ? await sh('docker1', [...argv, `http://${WEB_IP}/big`])
      : await inWeb([...argv, `http://${HOST_IP}:8017/big`]);
  const [size, secs] = r.stdout.trim().split(' ').map(Number);
  if (r.exitCode !== 0 || size !== 2 * 1024 * 1024) throw new Error(`curl ${where}: exit ${r.exitCode}, ${r.stdout} ${r.stderr}`);
  return secs!;
}

async function patch(body: unknown, id = att.id, kind = 'attachments') {
  const r = await call('PATCH', `/${kind}/${id}`, body);
  const json = await r.json();
  return { status: r.status, json };
}

const innerLink = async () => (await inWeb(['ip', '-o', 'link', 'show', 'dev', 'eth1'])).stdout;
const innerIfindex = async () => JSON.parse((await inWeb(['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].ifindex as number;

describe('attachment impairments on a container (OVS bridge, userspace datapath)', () => {
  it('the probe says what traffic control this kernel has (tbf and nftables numgen yes; netem as this machine has it)', async () => {
    const tc = (await w.np.hosts.get('docker1')).facts?.trafficControl;
    console.log(`docker1 traffic control: ${JSON.stringify(tc)}`);
    expect(tc).toMatchObject({ tbf: true, nftNumgen: true, nftNetdevHooks: true, ingress: true, ifb: true, u32: true, mirred: true });
    // What the kernel really does: the same try, by hand.
    const netem = await sh('docker1', [
      'unshare',
      '-n',
      'sh',
      '-c',
      'ip link add a type veth peer name b && tc qdisc add dev a root netem delay 1ms',
    ]);
    expect(tc!.netem).toBe(netem.exitCode === 0);
    // …and what decided which delay test runs below.
    expect(tc!.netem).toBe(NETEM);
  });

  it('baseline: no loss, full rate both ways', async () => {
    expect(await lossOf('docker1', WEB_IP)).toBe(0);
    const from = await transfer('from-container');
    const to = await transfer('to-container');
    console.log(`baseline 2 MB: from the container ${from.toFixed(2)} s, towards it ${to.toFixed(2)} s`);
    expect(from).toBeLessThan(2);
    expect(to).toBeLessThan(2);
  });

  it('30% loss towards the container: 200 pings lose 20–40%; then from the container: the same', async () => {
    const ifindex = await innerIfindex();
    let r = await patch({ impairment: { toContainer: { lossPercent: 30 } } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.impairment).toEqual({ toContainer: { lossPercent: 30 }, fromContainer: {} });
    const to = await lossOf('docker1', WEB_IP);
    console.log(`loss 30% towards the container: ${to.toFixed(1)}% of 200 pings lost`);
    expect(to).toBeGreaterThanOrEqual(20);
    expect(to).toBeLessThanOrEqual(40);

    r = await patch({ impairment: { fromContainer: { lossPercent: 30 } } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const from = await lossOf('docker1', WEB_IP);
    console.log(`loss 30% from the container: ${from.toFixed(1)}% of 200 pings lost`);
    expect(from).toBeGreaterThanOrEqual(20);
    expect(from).toBeLessThanOrEqual(40);
    // The container's own sends are lost silently too (ping inside would retry a send the kernel refused, and see none lost).
    const own = await (async () => {
      const p = await inWeb(['ping', '-q', '-c', '200', '-i', '0.02', '-W', '1', HOST_IP]);
      const m = /(\d+) packets transmitted, (\d+) received/.exec(p.stdout)!;
      expect(p.stderr).not.toMatch(/No buffer space|sendmsg/);
      return 100 - (Number(m[2]) * 100) / Number(m[1]);
    })();
    console.log(`loss 30% from the container, pings sent by the container itself: ${own.toFixed(1)}% lost`);
    expect(own).toBeGreaterThanOrEqual(20);
    expect(own).toBeLessThanOrEqual(40);
    // Live: the same interface, its address still there.
    expect(await innerIfindex()).toBe(ifindex);
    expect((await inWeb(['ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout).toContain(`${WEB_IP}/24`);
  });

  it('5 Mbit/s each way: a 2 MB transfer takes at least 3 s in either direction', async () => {
    const r = await patch({ impairment: { toContainer: { rateMbit: 5 }, fromContainer: { rateMbit: 5 } } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const from = await transfer('from-container');
    const to = await transfer('to-container');
    console.log(`rate 5 Mbit/s, 2 MB: from the container ${from.toFixed(2)} s, towards it ${to.toFixed(2)} s`);
    expect(from).toBeGreaterThanOrEqual(3);
    expect(to).toBeGreaterThanOrEqual(3);
  });

  it('observe: the impairments found on the host, and drift when someone changes them by hand', async () => {
    let o = await w.np.attachments.get(att.id, { observe: true });
    expect(o.observed).toMatchObject({
      impairment: { toContainer: { rateMbit: 5 }, fromContainer: { rateMbit: 5 } },
      link: 'up',
      drift: [],
    });
    // By hand: the qdisc towards the container goes, and a loss rule appears on the container side.
    expect((await sh('docker1', ['tc', 'qdisc', 'del', 'dev', att.hostIfname, 'root'])).exitCode).toBe(0);
    o = await w.np.attachments.get(att.id, { observe: true });
    expect(o.observed!.drift).toEqual([{ field: 'impairment.toContainer', desired: { rateMbit: 5 }, actual: {} }]);
    expect((await sh('docker1', ['ip', 'link', 'set', 'dev', att.hostIfname, 'down'])).exitCode).toBe(0);
    o = await w.np.attachments.get(att.id, { observe: true });
    expect(o.observed!.drift).toContainEqual({ field: 'link', desired: 'up', actual: 'down' });
    expect((await sh('docker1', ['ip', 'link', 'set', 'dev', att.hostIfname, 'up'])).exitCode).toBe(0);
  });

  it('PATCH back to no impairment: no loss and full rate again', async () => {
    const r = await patch({ impairment: null });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.impairment).toEqual({ toContainer: {}, fromContainer: {} });
    expect(await lossOf('docker1', WEB_IP)).toBe(0);
    const from = await transfer('from-container');
    const to = await transfer('to-container');
    console.log(`after clearing, 2 MB: from the container ${from.toFixed(2)} s, towards it ${to.toFixed(2)} s`);
    expect(from).toBeLessThan(2);
    expect(to).toBeLessThan(2);
    // Nothing of ours is left on either end.
    expect((await sh('docker1', ['tc', 'qdisc', 'show', 'dev', att.hostIfname])).stdout).not.toMatch(/tbf|netem/);
    expect((await inWeb(['tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout).not.toMatch(/tbf|netem/);
    expect((await inWeb(['nft', 'list', 'tables'])).stdout).not.toContain(`netplumb_${att.id}`);
    expect((await inWeb(['ip', '-o', 'link', 'show'])).stdout).not.toContain(`npd${att.id.slice(-12)}`);
    expect((await w.np.attachments.get(att.id, { observe: true })).observed!.drift).toEqual([]);
  });

  it('cable pull: the container sees NO-CARRIER, pings and a TCP connection fail; re-plug: traffic resumes, same interface and address', async () => {
    const ifindex = await innerIfindex();
    let r = await patch({ link: 'down' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.link).toBe('down');
    expect(await innerLink()).toContain('NO-CARRIER');
    const ping = await sh('docker1', ['ping', '-c', '3', '-i', '0.2', '-W', '1', WEB_IP]);
    expect(ping.exitCode).not.toBe(0);
    expect(ping.stdout).toMatch(/ 0 received/);
    const tcp = await sh('docker1', ['curl', '-s', '-m', '3', '-o', '/dev/null', `http://${WEB_IP}/`]);
    expect(tcp.exitCode).not.toBe(0);
    const o = await w.np.attachments.get(att.id, { observe: true });
    expect(o.observed).toMatchObject({ link: 'down', drift: [] });

    r = await patch({ link: 'up' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await innerLink()).not.toContain('NO-CARRIER');
    // Carrier comes back at once; the first echo may wait for ARP.
    const back = await sh('docker1', ['ping', '-c', '5', '-i', '0.2', '-W', '2', WEB_IP]);
    expect(back.exitCode, back.stdout).toBe(0);
    const page = await sh('docker1', ['curl', '-s', '-m', '10', `http://${WEB_IP}/`]);
    expect(page.stdout).toContain('Web Server #1');
    expect(await innerIfindex()).toBe(ifindex);
    expect((await inWeb(['ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout).toContain(`${WEB_IP}/24`);
  });

  it.skipIf(missing('netem delay/jitter', NETEM, 'no sch_netem'))(
    'delay: +100 ms RTT (±15) towards the container (needs sch_netem)',
    async () => {
      const rtt = async () => {
        const p = await sh('docker1', ['ping', '-q', '-c', '10', '-i', '0.2', WEB_IP]);
        return Number(/= [\d.]+\/([\d.]+)\//.exec(p.stdout)![1]);
      };
      const before = await rtt();
      const r = await patch({ impairment: { toContainer: { delayMs: 100 } } });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const after = await rtt();
      console.log(`delay 100 ms: RTT ${before.toFixed(1)} → ${after.toFixed(1)} ms`);
      expect(after - before).toBeGreaterThanOrEqual(85);
      expect(after - before).toBeLessThanOrEqual(115);
      expect((await patch({ impairment: null })).status).toBe(200);
    },
  );

  it.skipIf(missing('the netem refusal on a real host', !NETEM, 'this kernel has netem; test/api/impairments.test.ts covers it'))(
    'delay on a kernel without netem: 422 naming it, no job, nothing changed (only where netem is absent)',
    async () => {
      expect((await w.np.hosts.get('docker1')).facts?.trafficControl?.netem).toBe(false);
      const jobsBefore = (await w.np.jobs.list({ limit: 500 })).items.length;
      const r = await patch({ impairment: { toContainer: { delayMs: 100, jitterMs: 10 }, fromContainer: { lossPercent: 5 } } });
      expect(r.status).toBe(422);
      expect(r.json.errors.map((e: { pointer: string }) => e.pointer)).toEqual([
        '/impairment/toContainer/delayMs',
        '/impairment/toContainer/jitterMs',
      ]);
      expect(r.json.detail).toContain('netem');
      expect(r.json.errors[0].detail).toContain('CONFIG_NET_SCH_NETEM');
      expect((await w.np.jobs.list({ limit: 500 })).items.length).toBe(jobsBefore);
      expect((await w.np.attachments.get(att.id)).impairment).toEqual({ toContainer: {}, fromContainer: {} });
    },
  );
});

describe('tunnel impairments', () => {
  it('Linux-bridge VXLAN: 30% loss one way over 200 pings, cable pull and re-plug, cleared; an OVS tunnel: impairment refused with the reason, link cut and restored', async () => {
    const tun = await w.np.tunnels.create({ type: 'vxlan', key: 17, endpoints: [{ bridge: 'docker1/lx17' }, { bridge: 'docker3/lx17' }] });
    expect((await sh('docker1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.78.0.2'])).exitCode).toBe(0);

    let r = await patch({ impairment: { aToB: { lossPercent: 30 } } }, tun.id, 'tunnels');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const loss = await lossOf('docker1', '10.78.0.2');
    console.log(`tunnel aToB loss 30%: ${loss.toFixed(1)}% of 200 pings lost`);
    expect(loss).toBeGreaterThanOrEqual(20);
    expect(loss).toBeLessThanOrEqual(40);
    const o = await w.np.tunnels.get(tun.id, { observe: true });
    expect(o.observed!.drift).toEqual([]);

    r = await patch({ link: 'down' }, tun.id, 'tunnels');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await sh('docker1', ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.78.0.2'])).exitCode).not.toBe(0);
    r = await patch({ link: 'up', impairment: null }, tun.id, 'tunnels');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await lossOf('docker1', '10.78.0.2')).toBe(0);

    const ovs = await w.np.tunnels.create({ type: 'vxlan', key: 18, endpoints: [{ bridge: 'docker1/br17' }, { bridge: 'docker3/br17' }] });
    r = await patch({ impairment: { aToB: { lossPercent: 10 } } }, ovs.id, 'tunnels');
    expect(r.status).toBe(422);
    expect(r.json.errors[0].pointer).toBe('/impairment/aToB');
    expect(r.json.detail).toContain('no kernel device per tunnel');
    // …but its link can be cut: OpenFlow no-forward + no-receive on both ports.
    expect((await sh('docker1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2'])).exitCode).toBe(0);
    r = await patch({ link: 'down' }, ovs.id, 'tunnels');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await sh('docker1', ['ping', '-c', '3', '-i', '0.2', '-W', '1', '10.77.0.2'])).stdout).toMatch(/ 0 received/);
    expect((await w.np.tunnels.get(ovs.id, { observe: true })).observed!.drift).toEqual([]);
    r = await patch({ link: 'up' }, ovs.id, 'tunnels');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await sh('docker1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2'])).exitCode).toBe(0);
    await w.np.tunnels.delete(ovs.id);
    await w.np.tunnels.delete(tun.id);
  });
});

describe('topology members', () => {
  it('an impairment on a member is applied in place: same interface, the tbf there, loss gone when cleared', async () => {
    expect((await w.ssh('docker1', ['ip', 'netns', 'add', TOPO_NS])).exitCode).toBe(0);
    const doc = (impairment?: object) => ({
      networks: {
        lab: {
          subnet: '10.79.0.0/24',
          hostAddresses: 'auto' as const,
          members: [{ host: 'docker1', netns: TOPO_NS, address: '10.79.0.10', ...(impairment ? { impairment } : {}) }],
        },
      },
    });
    const put = (body: unknown) => call('PUT', '/topologies/i17', body);
    expect((await put(doc())).status).toBe(201);
    // The namespace lives in the SSH session's mount namespace: reach it the same way.
    const inNs = (argv: string[]) => w.ssh('docker1', ['ip', 'netns', 'exec', TOPO_NS, ...argv]);
    const ifindex = async () => JSON.parse((await inNs(['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].ifindex as number;
    const before = await ifindex();
    const bridgeIp = '10.79.0.1';
    expect((await inNs(['ping', '-c', '2', '-i', '0.2', '-W', '2', bridgeIp])).exitCode).toBe(0);

    const r = await put(doc({ fromContainer: { rateMbit: 3, lossPercent: 30 } }));
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await ifindex()).toBe(before);
    expect((await inNs(['tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout).toContain('tbf');
    // The peer (the host, on the bridge) pings the member: its replies leave through the impaired egress.
    const lost = await lossOf('docker1', '10.79.0.10');
    console.log(`topology member, loss 30% from the member: ${lost.toFixed(1)}% of 200 pings lost`);
    expect(lost).toBeGreaterThanOrEqual(20);
    expect(lost).toBeLessThanOrEqual(40);

    expect((await put(doc())).status).toBe(200);
    expect(await ifindex()).toBe(before);
    expect((await inNs(['tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout).not.toContain('tbf');
    expect((await inNs(['ping', '-q', '-c', '50', '-i', '0.02', '-W', '1', bridgeIp])).stdout).toContain(' 0% packet loss');
    expect((await call('DELETE', '/topologies/i17')).status).toBe(204);
  });
});
