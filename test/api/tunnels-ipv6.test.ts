/**
 * Tunnels between hosts whose tunnelIp is IPv6 (issue 18): the host model keeps the address canonical, both ends
 * must be one family, the overlay MTU counts the 40-byte IPv6 header, and a Linux-bridge GRE end on a kernel
 * without ip6gretap is refused before any command runs.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

/** Hosts: v6a and v6b on an IPv6 underlay, v4 on an IPv4 one; an OVS bridge on each, a Linux bridge on v6b. */
async function world() {
  const t = await testApp();
  // Links that were added answer `ip link set …` (alias, master, up) as a kernel would.
  const added = new Set<string>();
  t.world.on((argv, host) => {
    if (argv[0] !== 'ip' || argv[1] !== 'link') return undefined;
    if (argv[2] === 'add') return (added.add(`${host}/${argv[4]}`), { exitCode: 0 });
    if (argv[2] === 'set' && added.has(`${host}/${argv[4]}`)) return { exitCode: 0 };
    return undefined;
  });
  const hosts = { v6a: 'FD00:18:1:0::101', v6b: 'fd00:18:2::101', v4: '10.10.10.101' };
  for (const [name, ip] of Object.entries(hosts))
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  for (const body of [
    { host: 'v6a', name: 'ovs_bridge' },
    { host: 'v6b', name: 'ovs_bridge' },
    { host: 'v6b', name: 'lx', type: 'linux' },
    { host: 'v4', name: 'ovs_bridge' },
  ])
    expect((await t.json('POST', '/bridges', body)).status).toBe(201);
  t.world.calls = [];
  return t;
}

describe('tunnels over an IPv6 underlay', () => {
  it('an IPv6 tunnelIp is accepted and kept in canonical form', async () => {
    const t = await world();
    const h = await (await t.json('GET', '/hosts/v6a')).json();
    expect(h.tunnelIp).toBe('fd00:18:1::101');
  });

  it('OVS GRE over IPv6: remote_ip is the other IPv6 tunnelIp; overlay MTU 1500 − 58 = 1442 (−62 with a key)', async () => {
    const t = await world();
    const r = await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v6b/ovs_bridge' }] });
    expect(r.status).toBe(201);
    const tun = await r.json();
    expect(tun).toMatchObject({
      overlayMtu: 1442,
      endpoints: [
        { localIp: 'fd00:18:1::101', remoteIp: 'fd00:18:2::101', overlayMtu: 1442 },
        { localIp: 'fd00:18:2::101', remoteIp: 'fd00:18:1::101', overlayMtu: 1442 },
      ],
    });
    expect(t.world.calls.find((c) => c.host === 'v6a' && c.argv.includes('add-port'))!.argv).toEqual(
      expect.arrayContaining(['options:remote_ip=fd00:18:2::101', 'options:local_ip=fd00:18:1::101']),
    );
    expect(t.world.calls.find((c) => c.host === 'v6b' && c.argv.includes('add-port'))!.argv).toContain('options:remote_ip=fd00:18:1::101');
    expect((await (await t.json('GET', '/bridges/v6a/ovs_bridge')).json()).overlayMtu).toBe(1442);
    expect((await t.json('DELETE', `/tunnels/${tun.id}`)).status).toBe(204);
    const keyed = await t.json('POST', '/tunnels', {
      type: 'gre',
      key: 9,
      endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v6b/ovs_bridge' }],
    });
    expect((await keyed.json()).overlayMtu).toBe(1438);
  });

  it('Geneve over IPv6 on OVS: 1500 − 78 = 1422; VXLAN OVS to a Linux bridge: 1500 − 70 = 1430, the kernel device gets IPv6 remote and local', async () => {
    const t = await world();
    const g = await t.json('POST', '/tunnels', { type: 'geneve', endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v6b/ovs_bridge' }] });
    expect(g.status).toBe(201);
    const gt = await g.json();
    expect(gt.overlayMtu).toBe(1422);
    expect((await t.json('DELETE', `/tunnels/${gt.id}`)).status).toBe(204);
    t.world.calls = [];
    const r = await t.json('POST', '/tunnels', {
      type: 'vxlan',
      key: 18,
      endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v6b/lx', portName: 'vx6' }],
    });
    expect(r.status).toBe(201);
    const tun = await r.json();
    expect(tun.overlayMtu).toBe(1430);
    expect(t.world.calls.filter((c) => c.host === 'v6b').map((c) => c.argv.join(' '))).toContain(
      'ip link add name vx6 type vxlan id 18 remote fd00:18:1::101 dstport 4789 local fd00:18:2::101',
    );
    expect((await (await t.json('GET', '/bridges/v6b/lx')).json()).overlayMtu).toBe(1430);
  });

  it('a Linux-bridge GRE end over IPv6 on a kernel without ip6gretap → 422 naming it, no job, no command', async () => {
    const t = await world();
    const r = await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v6b/lx' }] });
    expect(r.status).toBe(422);
    const p = await r.json();
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0].pointer).toBe('/endpoints/1/bridge');
    expect(p.errors[0].detail).toMatch(/no IPv6 GRE support.*ip6gretap/);
    expect(t.world.calls).toHaveLength(0);
    expect((await t.store.listJobs({ limit: 100, kind: 'tunnel.create' })).items).toHaveLength(0);
  });

  it('ends of different families → 422 pointing at the second end, no job, no command', async () => {
    const t = await world();
    const r = await t.json('POST', '/tunnels', { type: 'vxlan', endpoints: [{ bridge: 'v6a/ovs_bridge' }, { bridge: 'v4/ovs_bridge' }] });
    expect(r.status).toBe(422);
    const p = await r.json();
    expect(p.errors[0].pointer).toBe('/endpoints/1/bridge');
    expect(p.errors[0].detail).toMatch(/IPv4.*IPv6.*same family/);
    expect(t.world.calls).toHaveLength(0);
    expect((await t.store.listJobs({ limit: 100, kind: 'tunnel.create' })).items).toHaveLength(0);
  });
});
