/**
 * DHCP attachments through the API on the fake host (commands recorded, never proof the network works: see
 * test/integration/dhcp.test.ts): request shapes, the 422s before any command, the client started in the target's
 * held namespace and stopped on delete, the lease recorded and shown, observe and repair of the client.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

const PID = 4242;
const P = 'https://netplumb.dev/problems/';

async function world() {
  const t = await testApp();
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).status).toBe(201);
  t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: PID, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  t.world.calls = [];
  return t;
}

/** The host's recorded DHCP clients, as a probe would have found them. */
async function setClients(t: Awaited<ReturnType<typeof world>>, clients: string[]) {
  const h = (await t.store.getResourceByKey('host', 'docker1'))!;
  const data = h.data as { facts: Record<string, unknown> };
  await t.store.updateResource({ ...h, data: { ...data, facts: { ...data.facts, dhcpClients: clients } } });
}

const cmdLines = (t: Awaited<ReturnType<typeof world>>) => t.world.calls.map((c) => c.argv);
const named = (t: Awaited<ReturnType<typeof world>>, name: string) => cmdLines(t).filter((a) => a[0] === 'sh' && a[3] === name);

describe('DHCP attachments', () => {
  it('addresses "dhcp": udhcpc started from the host in the held namespace, the lease recorded and shown', async () => {
    const t = await world();
    const r = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a).toMatchObject({
      dhcp: { client: 'udhcpc' },
      addresses: ['10.11.12.150/24'],
      gateway: null,
      lease: { address: '10.11.12.150/24', router: '10.11.12.1', server: '10.11.12.1', leaseSeconds: 3600 },
    });
    expect(Date.parse(a.lease.obtainedAt)).not.toBeNaN();
    // No static address put on eth1: the link only, then the client.
    expect(cmdLines(t).some((c) => c.includes('addr') && c.includes('replace'))).toBe(false);
    const [script] = named(t, 'netplumb-dhcp-script');
    expect(script!.slice(4)).toEqual(['/run/netplumb/dhcp', `/run/netplumb/dhcp/${a.id}.sh`]);
    const [start] = named(t, 'netplumb-dhcp-start');
    expect(start!.slice(4)).toEqual([
      '/run/netplumb/dhcp',
      `/run/netplumb/dhcp/${a.id}.pid`,
      `/run/netplumb/dhcp/${a.id}.lease`,
      `/run/netplumb/dhcp/${a.id}.log`,
      `/run/netplumb/ns/${a.id}`,
      'udhcpc',
      '-f',
      '-R',
      '-i',
      'eth1',
      '-s',
      `/run/netplumb/dhcp/${a.id}.sh`,
      '-p',
      `/run/netplumb/dhcp/${a.id}.pid`,
      '-t',
      '4',
      '-T',
      '2',
      '-A',
      '5',
    ]);
    expect(named(t, 'netplumb-dhcp-wait')).toHaveLength(1);
    // The start and the wait run before the namespace hold is released.
    const order = cmdLines(t).map((c) => c[3]);
    expect(order.indexOf('netplumb-dhcp-wait')).toBeLessThan(order.indexOf('netplumb-ns-end'));
    const got = await (await t.json('GET', `/attachments/${a.id}`)).json();
    expect(got.lease).toEqual(a.lease);
    expect(got.addresses).toEqual(['10.11.12.150/24']);
  });

  it('dhcpClient dhclient (when the host has it) runs dhclient with its own script and files', async () => {
    const t = await world();
    await setClients(t, ['udhcpc', 'dhclient']);
    const r = await t.json('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1' },
      addresses: 'dhcp',
      dhcpClient: 'dhclient',
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a.dhcp).toEqual({ client: 'dhclient' });
    const [start] = named(t, 'netplumb-dhcp-start');
    expect(start!.slice(9)).toEqual([
      'dhclient',
      '-4',
      '-nw',
      '-pf',
      `/run/netplumb/dhcp/${a.id}.pid`,
      '-lf',
      `/run/netplumb/dhcp/${a.id}.leases`,
      '-sf',
      `/run/netplumb/dhcp/${a.id}.sh`,
      'eth1',
    ]);
    const script = t.world.calls.find((c) => c.argv[3] === 'netplumb-dhcp-script');
    expect(script).toBeDefined();
  });

  it('422 before any command: no client on the host, a client it lacks, dhcpcd, dhcpClient without dhcp, gateway with dhcp', async () => {
    const t = await world();
    const post = async (extra: object) => {
      const r = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, ...extra });
      const p = await r.json();
      expect(r.status, JSON.stringify(p)).toBe(422);
      expect(p.type).toBe(`${P}validation`);
      return p.errors.map((e: { pointer: string; detail: string }) => `${e.pointer}: ${e.detail}`).join('\n');
    };
    expect(await post({ addresses: ['10.11.12.5/24'], dhcpClient: 'udhcpc' })).toContain(
      '/dhcpClient: a DHCP client is for addresses "dhcp"',
    );
    expect(await post({ addresses: 'dhcp', gateway: '10.11.12.1' })).toContain('/gateway: with DHCP the router comes from the lease');
    expect(await post({ addresses: 'dhcp', dhcpClient: 'dhclient' })).toMatch(/^\/dhcpClient: docker1 has no dhclient/);
    await setClients(t, ['udhcpc', 'dhcpcd']);
    expect(await post({ addresses: 'dhcp', dhcpClient: 'dhcpcd' })).toMatch(/^\/dhcpClient: docker1: dhcpcd is not supported/);
    await setClients(t, ['dhcpcd']);
    expect(await post({ addresses: 'dhcp' })).toMatch(/^\/addresses: docker1: dhcpcd is not supported/);
    await setClients(t, []);
    expect(await post({ addresses: 'dhcp' })).toMatch(/^\/addresses: docker1 has no DHCP client/);
    expect(t.world.calls).toEqual([]);
    expect((await (await t.json('GET', '/attachments')).json()).items).toEqual([]);
  });

  it('no lease within the bound → dhcp-no-lease (504), everything undone (client stopped, veth deleted), no record', async () => {
    const t = await world();
    t.world.on((argv) =>
      argv[0] === 'sh' && argv[3] === 'netplumb-dhcp-wait'
        ? { exitCode: 1, stderr: 'udhcpc: sending discover\nno DHCP lease from the segment within 15 s\n' }
        : undefined,
    );
    const r = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' });
    const p = await r.json();
    expect(r.status, JSON.stringify(p)).toBe(504);
    expect(p.type).toBe(`${P}dhcp-no-lease`);
    expect(p.detail).toBe(
      'no DHCP lease from the segment within 15 s (on eth1 on docker1): is a DHCP server on the segment? Everything the job made was undone. The client said: udhcpc: sending discover',
    );
    expect(named(t, 'netplumb-dhcp-stop')).toHaveLength(1);
    expect(cmdLines(t).some((c) => c.join(' ').startsWith('ip link del dev np'))).toBe(true);
    expect(named(t, 'netplumb-ns-release')).toHaveLength(1);
    expect((await (await t.json('GET', '/attachments')).json()).items).toEqual([]);
  });

  it('delete stops the client (before the veth goes) and removes its files', async () => {
    const t = await world();
    const a = await (
      await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' })
    ).json();
    t.world.calls = [];
    t.world.on((argv) => (argv.join(' ') === `ip -j link show dev ${a.hostIfname}` ? { stdout: '[]' } : undefined));
    expect((await t.json('DELETE', `/attachments/${a.id}`)).status).toBe(204);
    const lines = cmdLines(t);
    const stop = lines.findIndex((c) => c[3] === 'netplumb-dhcp-stop');
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(lines[stop]!.slice(4)).toEqual([
      `/run/netplumb/dhcp/${a.id}.pid`,
      `/run/netplumb/dhcp/${a.id}.lease`,
      `/run/netplumb/dhcp/${a.id}.lease.tmp`,
      `/run/netplumb/dhcp/${a.id}.sh`,
      `/run/netplumb/dhcp/${a.id}.log`,
      `/run/netplumb/dhcp/${a.id}.leases`,
    ]);
    expect(stop).toBeLessThan(lines.findIndex((c) => c.join(' ') === `ip link del dev ${a.hostIfname}`));
  });

  it('observe reports the client; a client gone is drift, and repair starts it again and records the lease', async () => {
    const t = await world();
    const a = await (
      await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: 'dhcp' })
    ).json();
    // The whole pair as the record says, the leased address on eth1: no drift while the client runs.
    const hostEnd = { ifindex: 7, ifname: a.hostIfname, flags: ['UP'], operstate: 'UP', mtu: 1500, ifalias: `netplumb:${a.id}` };
    const inner = (addrs: string[]) => ({
      ifindex: 2,
      link_index: 7,
      ifname: 'eth1',
      flags: ['UP'],
      mtu: 1500,
      address: '02:00:00:00:00:01',
      addr_info: addrs.map((x) => ({ local: x.split('/')[0], prefixlen: Number(x.split('/')[1]), scope: 'global' })),
    });
    let addrs = ['10.11.12.150/24'];
    let running = true;
    t.world.on((argv) => {
      const c = argv.join(' ');
      if (c === `ip -j -d addr show dev ${a.hostIfname}` || c === `ip -j link show dev ${a.hostIfname}`)
        return { stdout: JSON.stringify([hostEnd]) };
      if (c.endsWith('ip -j -d addr show dev eth1')) return { stdout: JSON.stringify([inner(addrs)]) };
      if (c.endsWith('ip -j -4 route show dev eth1')) return { stdout: JSON.stringify([{ dst: 'default', gateway: '10.11.12.1' }]) };
      if (argv.includes('port-to-br')) return { stdout: 'ovs_bridge\n' };
      if (argv.includes('find') && argv.includes('Interface'))
        return { stdout: JSON.stringify({ headings: ['name', 'external_ids'], data: [[a.hostIfname, ['map', [['netplumb-id', a.id]]]]] }) };
      if (argv[3] === 'netplumb-dhcp-status') return { stdout: running ? '4242\n4026532999\n4026532999\n' : '\n\n4026532999\n' };
      if (argv.join(' ').startsWith('ip link add')) throw new Error('no re-attach expected');
      return undefined;
    });
    await t.store.updateResource({
      ...(await t.store.getResource(a.id))!,
      data: { ...((await t.store.getResource(a.id))!.data as object), assignedMac: '02:00:00:00:00:01' },
    });
    const ok = await (await t.json('GET', `/attachments/${a.id}?observe=true`)).json();
    expect(ok.observed.dhcp).toMatchObject({
      client: 'udhcpc',
      running: true,
      pid: 4242,
      inTarget: true,
      lease: { address: '10.11.12.150/24' },
    });
    expect(ok.observed.drift).toEqual([]);

    // The client died and took its address with it: drift, and repair starts it again (no static address added).
    running = false;
    addrs = [];
    const gone = await (await t.json('GET', `/attachments/${a.id}?observe=true`)).json();
    expect(gone.observed.dhcp).toMatchObject({ running: false, pid: null });
    expect(gone.observed.drift.map((d: { field: string }) => d.field).sort()).toEqual(['addresses', 'dhcpClient']);
    t.world.calls = [];
    const r = await t.json('POST', `/attachments/${a.id}/repair`);
    const body = await r.json();
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(named(t, 'netplumb-dhcp-start')).toHaveLength(1);
    expect(named(t, 'netplumb-dhcp-wait')).toHaveLength(1);
    expect(cmdLines(t).some((c) => c.includes('addr') && (c.includes('replace') || c.includes('del')))).toBe(false);
    expect(body).toMatchObject({ state: 'ready', addresses: ['10.11.12.150/24'], lease: { address: '10.11.12.150/24' } });
  });
});
