/**
 * IPv6 end to end (issue 18), on two sandbox hosts whose underlay is IPv6 (fd00:18:1::/64 and fd00:18:2::/64 behind
 * the router namespace, which forwards IPv6) and whose tunnelIp is their IPv6 underlay address:
 * - OVS tunnels (userspace datapath: GRE, VXLAN, Geneve) over IPv6: the bridges' own addresses reach each other, the
 *   router's link carries IPv6 outer headers, and the overlay MTU counts the 40-byte IPv6 header (a packet of exactly
 *   overlayMtu bytes gets through with DF, one byte more than the wire overhead allows does not);
 * - containers started by Docker (which turns IPv6 off in them): an IPv6-only one on docker1 and a dual-stack one on
 *   docker3 reach each other over the GRE tunnel (ping -6, HTTP over IPv6, ping -4 from the dual-stack one);
 * - a Linux-bridge VXLAN tunnel over IPv6 (kernel vxlan device with IPv6 remote/local);
 * - a Linux-bridge GRE tunnel over IPv6: ip6gretap devices where the kernel has them; where it lacks them that test is
 *   skipped with the reason and the refusal is tested (422 from the real probe's facts, no command, no job).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_HOSTS_IPV6 } from '../testbed/sandbox.js';
import { kernel, missing } from '../helpers/capabilities.js';
import { sshHostBody, startWorld, type World, captureOnRouter } from './harness.js';

let w: World;
const V6 = { docker1: 'fd00:18:1::101', docker3: 'fd00:18:2::101' };
/** The sandbox hosts are namespaces on this kernel (their probe says the same, checked below). */
const IP6GRETAP = !!kernel().linkTypes?.ip6gretap;
const OUTER = new RegExp(`IP6 ${V6.docker1}.* > ${V6.docker3}|IP6 ${V6.docker3}.* > ${V6.docker1}`);

beforeAll(async () => {
  w = await startWorld('i18v', SEED_HOSTS_IPV6);
  for (const h of w.sb.hosts) await w.np.hosts.create({ ...sshHostBody(w.sb, h.name), tunnelIp: h.underlayIp6! });
  await w.np.bridges.create({ host: 'docker1', name: 'ovs6', addresses: ['10.18.0.1/24', 'fd00:18:99::1/64'] });
  await w.np.bridges.create({ host: 'docker3', name: 'ovs6', addresses: ['10.18.0.2/24', 'fd00:18:99::2/64'] });
  await w.np.bridges.create({ host: 'docker1', name: 'lx6', type: 'linux', addresses: ['fd00:18:98::1/64'] });
  await w.np.bridges.create({ host: 'docker3', name: 'lx6', type: 'linux', addresses: ['fd00:18:98::2/64'] });
  // The bridges' IPv6 addresses skip duplicate address detection: usable (not tentative) as soon as the job answered.
  for (const host of ['docker1', 'docker3']) {
    const r = await sh(host, ['ip', '-6', 'addr', 'show', 'tentative']);
    expect(r.stdout).not.toContain('fd00:18:9');
  }
});

afterAll(async () => {
  await w?.close();
});

const sh = (host: string, argv: string[]) => w.sb.exec(host, argv, { timeoutMs: 20_000 });
const inCt = (host: string, pid: number, argv: string[]) => sh(host, ['nsenter', '-t', String(pid), '-n', ...argv]);
/** Exit 0 when at least one of n echoes is answered (the first may wait for OVS's tunnel-neighbour lookup). */
const ping = (host: string, to: string, n = 5) => sh(host, ['ping', '-c', String(n), '-i', '0.2', '-W', '2', to]);
const noPing = async (host: string, to: string) => (await sh(host, ['ping', '-c', '2', '-i', '0.2', '-W', '1', to])).exitCode;
/** IPv6 ping with DF: `bytes` is the whole IPv6 packet (40 header + 8 ICMPv6 + payload). */
const sized6 = (host: string, to: string, bytes: number) =>
  sh(host, ['ping', '-6', '-M', 'do', '-c', '2', '-i', '0.2', '-W', '1', '-s', String(bytes - 48), to]);

const capture = (filter: string) => captureOnRouter(w.sb, 'docker1', filter, 60);

describe('hosts on an IPv6 underlay', () => {
  it("tunnelIp is the IPv6 underlay address; the probe's device types are this machine's kernel's", async () => {
    const h1 = await w.np.hosts.get('docker1');
    expect(h1.tunnelIp).toBe(V6.docker1);
    const linkTypes = h1.facts?.linkTypes;
    console.log(`[ipv6] docker1 device types: ${JSON.stringify(linkTypes)}`);
    expect(linkTypes?.ip6gretap).toBe(IP6GRETAP);
  });

  const gre6 = () =>
    fetch(`${w.baseUrl}/tunnels`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'gre', endpoints: [{ bridge: 'docker1/lx6' }, { bridge: 'docker3/lx6' }] }),
    });

  it.skipIf(missing('ip6gretap', IP6GRETAP, 'no ip6_gre'))(
    'a Linux-bridge GRE tunnel over IPv6: ip6gretap devices, fd00:18:98::1 reaches fd00:18:98::2, then gone (needs ip6gretap)',
    async () => {
      const r = await gre6();
      expect(r.status).toBe(201);
      const tun = (await r.json()) as { id: string; endpoints: { portName: string }[] };
      try {
        const link = JSON.parse((await sh('docker3', ['ip', '-j', '-d', 'link', 'show', 'dev', tun.endpoints[1]!.portName])).stdout)[0];
        expect(link.linkinfo.info_kind).toBe('ip6gretap');
        expect((await ping('docker1', 'fd00:18:98::2')).exitCode).toBe(0);
      } finally {
        await w.np.tunnels.delete(tun.id);
      }
      expect(await noPing('docker1', 'fd00:18:98::2')).not.toBe(0);
    },
  );

  it.skipIf(
    missing('the ip6gretap refusal on a real host', !IP6GRETAP, 'this kernel has ip6gretap; test/api/tunnels-ipv6.test.ts covers it'),
  )(
    'a Linux-bridge GRE tunnel over IPv6 on a kernel without ip6gretap: 422 naming it, no command, no job (only where it is absent)',
    async () => {
      const jobsBefore = (await w.np.jobs.list({ kind: 'tunnel.create', limit: 500 })).items.length;
      const r = await gre6();
      expect(r.status).toBe(422);
      const p = (await r.json()) as { errors: { pointer: string; detail: string }[] };
      expect(p.errors[0]!.pointer).toBe('/endpoints/0/bridge');
      expect(p.errors[0]!.detail).toMatch(/no IPv6 GRE support \(no ip6gretap device type/);
      // no command ran: no device, no job
      expect((await sh('docker1', ['ip', '-d', 'link', 'show', 'type', 'ip6gretap'])).stdout).not.toMatch(/gre-docker3/);
      expect((await w.np.tunnels.list()).items).toHaveLength(0);
      expect((await w.np.jobs.list({ kind: 'tunnel.create', limit: 500 })).items.length).toBe(jobsBefore);
    },
  );
});

const ovsCases = [
  { type: 'gre' as const, filter: 'proto 47', marker: /GRE/, mtu: 1442, wire: 58 },
  { type: 'vxlan' as const, filter: 'udp port 4789', marker: /VXLAN/, mtu: 1430, wire: 70 },
  { type: 'geneve' as const, filter: 'udp port 6081', marker: /Geneve/i, mtu: 1422, wire: 70 },
];

describe.each(ovsCases)('OVS $type tunnel over IPv6', ({ type, filter, marker, mtu, wire }) => {
  it(`fd00:18:99::1 reaches fd00:18:99::2 through it, IPv6 outer headers on the router link, overlay MTU ${mtu}`, async () => {
    expect(await noPing('docker1', 'fd00:18:99::2')).not.toBe(0);
    const tun = await w.np.tunnels.create({ type, endpoints: [{ bridge: 'docker1/ovs6' }, { bridge: 'docker3/ovs6' }] });
    let deleted = false;
    try {
      expect(tun.endpoints.map((e) => [e.hostName, e.localIp, e.remoteIp])).toEqual([
        ['docker1', V6.docker1, V6.docker3],
        ['docker3', V6.docker3, V6.docker1],
      ]);
      expect(tun.overlayMtu).toBe(mtu);
      expect((await w.np.bridges.get('docker1/ovs6')).overlayMtu).toBe(mtu);
      expect((await sh('docker1', ['ovs-vsctl', 'get', 'Interface', `${type}-docker3`, 'options:remote_ip'])).stdout.trim()).toBe(
        `"${V6.docker3}"`,
      );
      // the source pinned to the tunnelIp (an IPv6 host has several global addresses)
      expect((await sh('docker1', ['ovs-vsctl', 'get', 'Interface', `${type}-docker3`, 'options:local_ip'])).stdout.trim()).toBe(
        `"${V6.docker1}"`,
      );

      const cap = await capture(`ip6 and ${filter}`);
      const p = await ping('docker1', 'fd00:18:99::2');
      const seen = await cap.stop();
      expect(p.exitCode, p.stdout + p.stderr).toBe(0);
      console.log(`[ipv6/${type}] router link ${w.sb.routerIfaces.docker1}:\n${seen.trim().split('\n').slice(0, 4).join('\n')}`);
      expect(seen).toMatch(OUTER);
      expect(seen).toMatch(marker);
      expect(seen).toMatch(/fd00:18:99::1 > fd00:18:99::2: ICMP6, echo request/);
      // and IPv4 inside the same tunnel
      expect((await ping('docker3', '10.18.0.1')).exitCode).toBe(0);

      // The MTU on the real data plane (underlay MTU 1500, DF): overlayMtu bytes pass; 1500 − wire + 1 do not.
      expect((await sized6('docker1', 'fd00:18:99::2', mtu)).exitCode, `${mtu}-byte packet through ${type}`).toBe(0);
      expect((await sized6('docker1', 'fd00:18:99::2', 1500 - wire + 1)).exitCode, `${1500 - wire + 1} bytes`).not.toBe(0);

      const o = await w.np.tunnels.get(tun.id, { observe: true });
      for (const e of o.observed!.endpoints) {
        expect(e.error).toBeNull();
        expect(e.options.remote_ip).toBe(e.hostName === 'docker1' ? V6.docker3 : V6.docker1);
        expect(e.drift).toEqual([]);
      }
      await w.np.tunnels.delete(tun.id);
      deleted = true;
      expect(await noPing('docker1', 'fd00:18:99::2')).not.toBe(0);
    } finally {
      if (!deleted) await w.np.tunnels.delete(tun.id).catch(() => undefined);
    }
  });
});

describe('containers over the IPv6 underlay', () => {
  it('an IPv6-only container on docker1 and a dual-stack one on docker3 reach each other through GRE over IPv6', async () => {
    const tun = await w.np.tunnels.create({ type: 'gre', endpoints: [{ bridge: 'docker1/ovs6' }, { bridge: 'docker3/ovs6' }] });
    try {
      const web1 = await w.sb.startWeb('docker1', 'web1', 1);
      const web2 = await w.sb.startWeb('docker3', 'web2', 2);
      // Docker turns IPv6 off in its containers: the reported bug ("IPv6 is disabled on this device")
      expect((await inCt('docker1', web1, ['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6'])).stdout.trim()).toBe('1');

      const a1 = await w.np.attachments.create({
        bridge: 'docker1/ovs6',
        target: { container: 'web1' },
        addresses: ['fd00:18:99::100/64'],
        gateway: 'fd00:18:99::1',
      });
      const a2 = await w.np.attachments.create({
        bridge: 'docker3/ovs6',
        target: { container: 'web2' },
        addresses: ['10.18.0.200/24', 'fd00:18:99::200/64'],
        routes: [{ to: 'fd00:18:97::/64', via: 'fd00:18:99::2' }],
      });
      expect(a1.mtu).toBe(1442);
      expect(a2.mtu).toBe(1442);

      // IPv6 on for eth1 only; the address is there and usable (not tentative); IPv6-only: no IPv4 address
      expect((await inCt('docker1', web1, ['cat', '/proc/sys/net/ipv6/conf/eth1/disable_ipv6'])).stdout.trim()).toBe('0');
      const addr1 = (await inCt('docker1', web1, ['ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout;
      const line1 = addr1.split('\n').find((l) => l.includes('inet6 fd00:18:99::100/64'));
      expect(line1, addr1).toBeDefined();
      expect(line1).toMatch(/nodad/);
      expect(line1).not.toMatch(/tentative/);
      expect(addr1).not.toMatch(/\binet /);
      expect((await inCt('docker1', web1, ['ip', '-6', 'route', 'show', 'default'])).stdout).toMatch(/^default via fd00:18:99::1 dev eth1/);
      const addr2 = (await inCt('docker3', web2, ['ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout;
      expect(addr2).toMatch(/inet 10\.18\.0\.200\/24/);
      expect(addr2).toMatch(/inet6 fd00:18:99::200\/64/);
      expect((await inCt('docker3', web2, ['ip', '-6', 'route', 'get', 'fd00:18:97::7'])).stdout).toMatch(
        /^fd00:18:97::7 from :: via fd00:18:99::2 dev eth1/,
      );
      for (const [host, pid] of [
        ['docker1', web1],
        ['docker3', web2],
      ] as const)
        expect((await inCt(host, pid, ['ip', '-o', 'link', 'show', 'dev', 'eth1'])).stdout).toMatch(/ mtu 1442 /);

      const cap = await capture('ip6 and proto 47');
      const p1 = await inCt('docker1', web1, ['ping', '-6', '-c', '5', '-i', '0.2', '-W', '2', 'fd00:18:99::200']);
      expect(p1.exitCode, p1.stdout + p1.stderr).toBe(0);
      const p2 = await inCt('docker3', web2, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:18:99::100']);
      expect(p2.exitCode, p2.stdout + p2.stderr).toBe(0);
      // HTTP over IPv6 both ways (busybox httpd listens on IPv6 as well)
      const c1 = await inCt('docker1', web1, ['curl', '-s', '-m', '10', '-g', 'http://[fd00:18:99::200]/']);
      expect(c1.stdout, `curl exit ${c1.exitCode} ${c1.stderr}`).toContain('Web Server #2');
      const c2 = await inCt('docker3', web2, ['curl', '-s', '-m', '10', '-g', 'http://[fd00:18:99::100]/']);
      expect(c2.stdout, `curl exit ${c2.exitCode} ${c2.stderr}`).toContain('Web Server #1');
      // the dual-stack container's IPv4 crosses the same tunnel (to docker1's bridge: web1 has no IPv4)
      const p4 = await inCt('docker3', web2, ['ping', '-4', '-c', '3', '-i', '0.2', '-W', '2', '10.18.0.1']);
      expect(p4.exitCode, p4.stdout + p4.stderr).toBe(0);
      const seen = await cap.stop();
      console.log(`[ipv6/containers] router link:\n${seen.trim().split('\n').slice(0, 4).join('\n')}`);
      expect(seen).toMatch(OUTER);
      expect(seen).toMatch(/fd00:18:99::100 > fd00:18:99::200: ICMP6, echo request/);
      expect(seen).toMatch(/10\.18\.0\.200 > 10\.18\.0\.1: ICMP echo request/);

      // A full-size packet at the attachment's MTU crosses with DF (the IPv6 overhead was counted)
      const big = await inCt('docker1', web1, ['ping', '-6', '-M', 'do', '-c', '2', '-W', '2', '-s', String(1442 - 48), 'fd00:18:99::200']);
      expect(big.exitCode, big.stdout + big.stderr).toBe(0);

      await w.np.attachments.delete(a1.id);
      await w.np.attachments.delete(a2.id);
      expect((await inCt('docker1', web1, ['ip', 'link', 'show', 'eth1'])).exitCode).not.toBe(0);
    } finally {
      await w.np.tunnels.delete(tun.id).catch(() => undefined);
    }
  });
});

describe('Linux bridges over the IPv6 underlay', () => {
  it('VXLAN: kernel vxlan devices with IPv6 remote/local, overlay MTU 1430, fd00:18:98::1 reaches fd00:18:98::2', async () => {
    expect(await noPing('docker1', 'fd00:18:98::2')).not.toBe(0);
    const tun = await w.np.tunnels.create({ type: 'vxlan', key: 1806, endpoints: [{ bridge: 'docker1/lx6' }, { bridge: 'docker3/lx6' }] });
    let deleted = false;
    try {
      expect(tun.overlayMtu).toBe(1430);
      const dev = JSON.parse((await sh('docker1', ['ip', '-j', '-d', 'link', 'show', 'dev', 'vxlan-docker3'])).stdout)[0];
      expect(dev.linkinfo.info_kind).toBe('vxlan');
      expect(dev.linkinfo.info_data.remote6 ?? dev.linkinfo.info_data.remote).toBe(V6.docker3);
      expect(dev.master).toBe('lx6');

      const cap = await capture('ip6 and udp port 4789');
      const p = await ping('docker1', 'fd00:18:98::2');
      const seen = await cap.stop();
      expect(p.exitCode, p.stdout + p.stderr).toBe(0);
      console.log(`[ipv6/linux vxlan] router link:\n${seen.trim().split('\n').slice(0, 3).join('\n')}`);
      expect(seen).toMatch(OUTER);
      expect(seen).toMatch(/VXLAN/);
      expect((await sized6('docker1', 'fd00:18:98::2', 1430)).exitCode).toBe(0);
      expect((await sized6('docker1', 'fd00:18:98::2', 1431)).exitCode).not.toBe(0);

      const o = await w.np.tunnels.get(tun.id, { observe: true });
      for (const e of o.observed!.endpoints) expect(e.drift).toEqual([]);
      await w.np.tunnels.delete(tun.id);
      deleted = true;
      expect((await sh('docker1', ['ip', 'link', 'show', 'dev', 'vxlan-docker3'])).exitCode).not.toBe(0);
    } finally {
      if (!deleted) await w.np.tunnels.delete(tun.id).catch(() => undefined);
    }
  });
});

describe('a topology over the IPv6 underlay', () => {
  it('an IPv6-only overlay network in one document: VXLAN over IPv6 between the hosts, the members reach each other', async () => {
    const web3 = await w.sb.startWeb('docker1', 'web3', 1);
    const web4 = await w.sb.startWeb('docker3', 'web4', 2);
    const doc = {
      networks: {
        v6net: {
          bridge: { type: 'ovs', name: 'ovs_t6' },
          subnet: 'fd00:18:77::/64',
          tunnel: { type: 'vxlan' },
          hostAddresses: 'none',
          members: [
            { host: 'docker1', container: 'web3', address: 'fd00:18:77::3' },
            { host: 'docker3', container: 'web4', address: 'fd00:18:77::4' },
          ],
        },
      },
    };
    const put = await fetch(`${w.baseUrl}/topologies/t6`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Prefer: 'wait=120' },
      body: JSON.stringify(doc),
    });
    const body = (await put.json()) as { resources: Record<string, string> };
    expect(put.status, JSON.stringify(body)).toBe(201);
    try {
      const tun = await w.np.tunnels.get(body.resources['tunnel:v6net/docker1~docker3']!);
      expect(tun.endpoints.map((e) => e.remoteIp).sort()).toEqual([V6.docker1, V6.docker3]);
      expect(tun.overlayMtu).toBe(1430);
      const att = await w.np.attachments.get(body.resources['attachment:v6net/docker1/web3']!);
      expect(att.mtu).toBe(1430);
      const cap = await capture('ip6 and udp port 4789');
      const p = await inCt('docker1', web3, ['ping', '-6', '-c', '5', '-i', '0.2', '-W', '2', 'fd00:18:77::4']);
      const seen = await cap.stop();
      expect(p.exitCode, p.stdout + p.stderr).toBe(0);
      expect(seen).toMatch(OUTER);
      expect(seen).toMatch(/fd00:18:77::3 > fd00:18:77::4: ICMP6, echo request/);
      const back = await inCt('docker3', web4, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:18:77::3']);
      expect(back.exitCode, back.stdout + back.stderr).toBe(0);
      const c = await inCt('docker1', web3, ['curl', '-s', '-m', '10', '-g', 'http://[fd00:18:77::4]/']);
      expect(c.stdout, `curl exit ${c.exitCode} ${c.stderr}`).toContain('Web Server #2');
    } finally {
      const del = await fetch(`${w.baseUrl}/topologies/t6`, { method: 'DELETE', headers: { Prefer: 'wait=120' } });
      expect(del.status).toBe(204);
    }
    expect((await sh('docker1', ['ovs-vsctl', 'br-exists', 'ovs_t6'])).exitCode).not.toBe(0);
  });
});
