/**
 * The NIC attachment types (macvlan, ipvlan, phys), MAC seeds, rules and routes in tables through the API, on a fake
 * host whose kernel is this machine's (macvlan yes; ipvlan, 802.1Q vlan no). Bad input and missing kernel support
 * answer 422 with a pointer and run no command.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

const NIC = { ifname: 'eth0', address: '52:54:00:12:34:56', mtu: 1500, flags: ['UP'], linkinfo: null };

async function withHost() {
  const t = await testApp();
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 4242, running: true });
  t.world.on((argv) => {
    const cmd = argv.join(' ');
    if (cmd === 'ip -j -d link show' || cmd === 'ip -j -d addr show')
      return { stdout: JSON.stringify([{ ifname: 'lo', address: '00:00:00:00:00:00' }, NIC]) };
    if (argv[0] === 'nsenter' && cmd.endsWith('ip -j link show')) return { stdout: JSON.stringify([{ ifname: 'lo' }]) };
    return undefined;
  });
  t.world.calls = [];
  return t;
}

const post = (t: Awaited<ReturnType<typeof withHost>>, body: unknown) => t.json('POST', '/attachments', body);

describe('attachments on a host NIC (API)', () => {
  it('macvlan: made inside the target on the NIC (by name or MAC), marked, addressed; delete removes it', async () => {
    const t = await withHost();
    const r = await post(t, {
      host: 'docker1',
      parent: 'mac:52:54:00:12:34:56',
      target: { container: 'web1' },
      addresses: ['10.88.0.10/24'],
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a).toMatchObject({
      type: 'macvlan',
      mode: 'bridge',
      bridge: null,
      hostIfname: '',
      ifname: 'eth1',
      parent: { name: 'eth0', lower: 'eth0' },
    });
    const argvs = t.world.calls.map((c) => c.argv.join(' '));
    // No MAC asked for: one of ours, kept when the macvlan is made again (container restart, repair).
    expect(a.mac).toBeNull();
    const made = new RegExp(
      `^ip link add link eth0 name eth1 address 02(:[0-9a-f]{2}){5} netns /run/netplumb/ns/${a.id} type macvlan mode bridge$`,
    );
    expect(
      argvs.some((x) => made.test(x)),
      argvs.join('\n'),
    ).toBe(true);
    // The inside in one ip -batch (the job log shows its input): marked, addressed, up.
    const log = (await (await t.json('GET', `/jobs/${a.jobId}/logs`)).json()).items.map((l: { text: string }) => l.text).join('\n');
    expect(log).toContain(`link set dev eth1 alias netplumb:${a.id}\naddr replace 10.88.0.10/24 dev eth1\nlink set dev eth1 up`);
    t.world.calls = [];
    expect((await t.json('DELETE', `/attachments/${a.id}`)).status).toBe(204);
    expect(t.world.calls.map((c) => c.argv.join(' '))).toContain('nsenter --net=/proc/4242/ns/net ip link del dev eth1');
  });

  it("a MAC from a seed is pipework's U: (02 and md5 of the seed and a newline); phys moves the NIC in and names it", async () => {
    const t = await withHost();
    const r = await post(t, {
      type: 'phys',
      host: 'docker1',
      parent: 'eth0',
      ifname: 'eth7',
      macSeed: 'web1',
      target: { container: 'web1' },
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    const md5 = createHash('md5').update('web1\n').digest('hex');
    expect(a.mac).toBe(`02:${md5.slice(0, 2)}:${md5.slice(2, 4)}:${md5.slice(4, 6)}:${md5.slice(6, 8)}:${md5.slice(8, 10)}`);
    expect(a.macSeed).toBe('web1');
    expect(t.world.calls.map((c) => c.argv.join(' '))).toContain(`ip link set dev eth0 netns /run/netplumb/ns/${a.id}`);
    // The same NIC again: 409 before any command.
    t.world.calls = [];
    const again = await post(t, { type: 'phys', host: 'docker1', parent: 'eth0', target: { container: 'web1' } });
    expect(again.status).toBe(409);
    expect(t.world.calls).toEqual([]);
  });

  it('a parent NIC the host does not have: the job fails 404 with the pointer, nothing made, no record', async () => {
    const t = await withHost();
    const r = await post(t, { host: 'docker1', parent: 'eth9', target: { container: 'web1' } });
    const p = await r.json();
    expect(r.status).toBe(404);
    expect(p.errors[0].pointer).toBe('/parent');
    expect(t.world.calls.some((c) => c.argv.includes('add'))).toBe(false);
    expect((await (await t.json('GET', '/attachments')).json()).items).toEqual([]);
  });

  it('bad combinations and missing kernel support → 422 with pointers, no job, no command', async () => {
    const t = await withHost();
    const cases: [unknown, string][] = [
      [{ target: { container: 'web1' } }, '/bridge'],
      [{ type: 'macvlan', host: 'docker1', target: { container: 'web1' } }, '/parent'],
      [{ parent: 'eth0', target: { container: 'web1' } }, '/host'],
      [{ host: 'docker1', parent: 'eth0', mode: 'l2', target: { container: 'web1' } }, '/mode'],
      [{ host: 'docker1', parent: 'eth0', hostIfname: 'x1', target: { container: 'web1' } }, '/hostIfname'],
      [{ host: 'docker1', parent: 'eth0', impairment: { toContainer: { lossPercent: 5 } }, target: { container: 'web1' } }, '/impairment'],
      [{ host: 'docker1', parent: 'eth0', mac: '02:00:00:00:00:01', macSeed: 's', target: { container: 'web1' } }, '/macSeed'],
      [{ host: 'docker1', parent: 'bad name', target: { container: 'web1' } }, '/parent'],
      [{ host: 'docker1', parent: 'eth0', dhcpClient: 'udhcpc', target: { container: 'web1' } }, '/dhcpClient'],
      [{ host: 'docker1', parent: 'eth0', addresses: ['10.0.0.1/24', 'nope'], target: { container: 'web1' } }, '/addresses/1'],
      [
        {
          host: 'docker1',
          parent: 'eth0',
          rules: [{ priority: 10, from: '10.0.0.0/8', to: 'fd00::/8', table: 5 }],
          target: { container: 'web1' },
        },
        '/rules/0/to',
      ],
      [{ host: 'docker1', parent: 'eth0', rules: [{ priority: 10, table: 0 }], target: { container: 'web1' } }, '/rules/0/table'],
      [{ host: 'docker1', parent: 'eth0', rules: [{ from: '10.0.0.0/8', table: 5 }], target: { container: 'web1' } }, '/rules/0/priority'],
      [{ host: 'docker1', parent: 'eth0', mode: 'passthru', macSeed: 'x', target: { container: 'web1' } }, '/macSeed'],
      [{ type: 'ipvlan', host: 'docker1', parent: 'eth0', addresses: 'dhcp', target: { container: 'web1' } }, '/addresses'],
      [
        {
          host: 'docker1',
          parent: 'eth0',
          addresses: 'dhcp',
          routes: [{ to: '10.9.0.0/16', via: '10.88.0.1' }],
          target: { container: 'web1' },
        },
        '/routes/0/via',
      ],
      [
        { host: 'docker1', parent: 'eth0', routes: [{ to: '10.9.0.0/16', via: 'fd00::1' }], target: { container: 'web1' } },
        '/routes/0/via',
      ],
      // This kernel: no ipvlan, no 802.1Q (the probe says so).
      [{ type: 'ipvlan', host: 'docker1', parent: 'eth0', target: { container: 'web1' } }, '/type'],
      [{ host: 'docker1', parent: 'eth0', vlan: 10, target: { container: 'web1' } }, '/vlan'],
      [{ host: 'docker1', parent: 'eth0', addresses: 'dhcp', dhcpClient: 'dhclient', target: { container: 'web1' } }, '/dhcpClient'],
    ];
    for (const [body, pointer] of cases) {
      const r = await post(t, body);
      const p = await r.json();
      expect(r.status, `${JSON.stringify(body)} → ${JSON.stringify(p)}`).toBe(422);
      expect(
        p.errors.map((e: { pointer: string }) => e.pointer),
        JSON.stringify(body),
      ).toContain(pointer);
    }
    const ipvlan = await (await post(t, { type: 'ipvlan', host: 'docker1', parent: 'eth0', target: { container: 'web1' } })).json();
    expect(ipvlan.errors[0].detail).toMatch(/cannot make ipvlan devices: it lacks ipvlan/);
    expect(t.world.calls).toEqual([]);
    expect((await (await t.json('GET', '/jobs')).json()).items.filter((j: { kind: string }) => j.kind !== 'host.create')).toEqual([]);
  });

  it('routes in a table and rules at create; PATCH converges them (removed, added) and refuses impairments on a NIC type', async () => {
    const t = await withHost();
    const r = await post(t, {
      host: 'docker1',
      parent: 'eth0',
      target: { container: 'web1' },
      addresses: ['10.88.0.50/24'],
      routes: [{ to: '10.99.0.0/16', via: '10.88.0.1', table: 100 }],
      rules: [{ from: '10.88.0.50/32', table: 100, priority: 1000 }],
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    const argvs = () => t.world.calls.map((c) => c.argv.join(' '));
    expect(argvs()).toContain(`nsenter --net=/run/netplumb/ns/${a.id} ip -4 route replace 10.99.0.0/16 via 10.88.0.1 dev eth1 table 100`);
    expect(argvs().some((x) => x.endsWith('netplumb-rule -4 priority 1000 from 10.88.0.50/32 table 100'))).toBe(true);
    t.world.calls = [];
    const p = await t.json('PATCH', `/attachments/${a.id}`, { rules: [{ priority: 900, fwmark: 7, table: 'main' }], routes: [] });
    const patched = await p.json();
    expect(p.status, JSON.stringify(patched)).toBe(200);
    expect(patched.rules).toEqual([{ priority: 900, fwmark: 7, table: 'main' }]);
    expect(argvs()).toEqual(
      expect.arrayContaining([
        'nsenter --net=/proc/4242/ns/net ip -4 route del 10.99.0.0/16 dev eth1 table 100',
        'nsenter --net=/proc/4242/ns/net ip -4 rule del priority 1000 from 10.88.0.50/32 table 100',
      ]),
    );
    expect(argvs().some((x) => x.endsWith('netplumb-rule -4 priority 900 from all fwmark 7 table main'))).toBe(true);
    t.world.calls = [];
    const bad = await t.json('PATCH', `/attachments/${a.id}`, { impairment: { toContainer: { lossPercent: 5 } } });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].pointer).toBe('/impairment');
    expect(t.world.calls).toEqual([]);
  });
});
