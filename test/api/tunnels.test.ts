import { describe, expect, it } from 'vitest';
import type { Responder } from '../helpers/fake-host.js';
import { localHost, testApp } from '../helpers/app.js';

/** A little OVS + ip link state per host, so reads after writes answer like a host would. */
function fakeDevices(opts: { ovsError?: (host: string, port: string) => string | null } = {}): Responder {
  const ovs = new Map<string, Map<string, { bridge: string; type: string; owner: string }>>();
  const links = new Map<string, Map<string, { alias: string | null; master: string | null; kind: string }>>();
  const of = <T>(m: Map<string, Map<string, T>>, h: string) => m.get(h) ?? m.set(h, new Map()).get(h)!;
  return (argv, host) => {
    const a = [...argv];
    if (a[0] === 'ovs-vsctl') {
      const ports = of(ovs, host);
      const i = a.indexOf('add-port');
      if (i > 0) {
        const [br, port] = [a[i + 1]!, a[i + 2]!];
        const type = a.find((x) => x.startsWith('type='))!.slice(5);
        const owner = a.find((x) => x.startsWith('external_ids:netplumb-id='))!.split('=')[1]!;
        ports.set(port, { bridge: br, type, owner });
        return { exitCode: 0 };
      }
      const d = a.indexOf('del-port');
      if (d > 0) {
        ports.delete(a.at(-1)!);
        return { exitCode: 0 };
      }
      if (a.includes('port-to-br')) {
        const p = ports.get(a.at(-1)!);
        return p ? { stdout: `${p.bridge}\n` } : { exitCode: 1, stderr: 'no port named' };
      }
      if (a.includes('find') && a.includes('Interface')) {
        const name = a.at(-1)!.slice(5);
        const p = ports.get(name);
        const err = p ? (opts.ovsError?.(host, name) ?? null) : null;
        const headings = ['name', 'type', 'options', 'error', 'ofport', 'link_state', 'admin_state', 'mtu', 'external_ids'];
        const data = p
          ? [[name, p.type, ['map', []], err ?? ['set', []], err ? -1 : 1, 'up', 'up', ['set', []], ['map', [['netplumb-id', p.owner]]]]]
          : [];
        return { stdout: JSON.stringify({ headings, data }) };
      }
      return undefined;
    }
    if (a[0] === 'ip' && a[1] === 'link') {
      const l = of(links, host);
      if (a[2] === 'add') {
        l.set(a[4]!, { alias: null, master: null, kind: a[6]! });
        return { exitCode: 0 };
      }
      if (a[2] === 'del') {
        l.delete(a[4]!);
        return { exitCode: 0 };
      }
      if (a[2] === 'set' && l.has(a[4]!)) {
        const dev = l.get(a[4]!)!;
        if (a[5] === 'alias') dev.alias = a[6]!;
        if (a[5] === 'master') dev.master = a[6]!;
        return { exitCode: 0 };
      }
    }
    if (a.join(' ').startsWith('ip -j -d link show dev ')) {
      const dev = of(links, host).get(a.at(-1)!);
      if (!dev) return { exitCode: 1, stderr: `Device "${a.at(-1)}" does not exist.` };
      return {
        stdout: JSON.stringify([
          {
            ifname: a.at(-1),
            flags: ['UP'],
            mtu: 1500,
            operstate: 'UNKNOWN',
            ifalias: dev.alias,
            master: dev.master,
            linkinfo: { info_kind: dev.kind, info_data: {} },
          },
        ]),
      };
    }
    return undefined;
  };
}

const HOSTS = { docker1: '10.10.10.101', docker3: '192.168.50.101' };

/** docker1 and docker3 with tunnelIps, an OVS bridge ovs_bridge on each; `noGre` hosts probe without the gre module. */
async function world(o: { noGre?: string[]; ovsError?: (host: string, port: string) => string | null } = {}) {
  const t = await testApp();
  t.world.on(fakeDevices(o));
  t.world.on((argv, host) => (argv[0] === 'sh' && argv.at(-1) === 'gre' && o.noGre?.includes(host) ? { exitCode: 1 } : undefined));
  for (const [name, ip] of Object.entries(HOSTS))
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  expect((await t.json('POST', '/hosts', localHost('docker5'))).status).toBe(201); // no tunnelIp
  const br: Record<string, { id: string }> = {};
  for (const [ref, body] of Object.entries({
    'docker1/ovs_bridge': { host: 'docker1', name: 'ovs_bridge' },
    'docker3/ovs_bridge': { host: 'docker3', name: 'ovs_bridge' },
    'docker1/br2': { host: 'docker1', name: 'br2' },
    'docker3/lx': { host: 'docker3', name: 'lx', type: 'linux', mtu: 9000 },
    'docker5/ovs_bridge': { host: 'docker5', name: 'ovs_bridge' },
  })) {
    const r = await t.json('POST', '/bridges', body);
    expect(r.status, ref).toBe(201);
    br[ref] = await r.json();
  }
  t.world.calls = [];
  const bridge = async (ref: string) => (await t.json('GET', `/bridges/${ref}`)).json();
  return { ...t, br, bridge };
}

const GRE = { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] };

describe('tunnels API', () => {
  it('POST /tunnels: both ends in one job on both hosts, remote = the other tunnelIp, overlay MTU on the tunnel and both bridges', async () => {
    const t = await world();
    const r = await t.json('POST', '/tunnels', GRE);
    expect(r.status).toBe(201);
    const tun = await r.json();
    expect(tun.id).toMatch(/^tun_[a-z2-7]{26}$/);
    expect(tun).toMatchObject({
      type: 'gre',
      key: null,
      dstPort: null,
      overlayMtu: 1462,
      state: 'ready',
      endpoints: [
        {
          bridge: t.br['docker1/ovs_bridge']!.id,
          hostName: 'docker1',
          portName: 'gre-docker3',
          localIp: '10.10.10.101',
          remoteIp: '192.168.50.101',
          overlayMtu: 1462,
        },
        {
          bridge: t.br['docker3/ovs_bridge']!.id,
          hostName: 'docker3',
          portName: 'gre-docker1',
          localIp: '192.168.50.101',
          remoteIp: '10.10.10.101',
          overlayMtu: 1462,
        },
      ],
      job: { status: 'succeeded', kind: 'tunnel.create' },
    });
    expect(tun.job.hosts).toHaveLength(2);
    const d1 = t.world.calls.find((c) => c.host === 'docker1' && c.argv.includes('add-port'))!.argv;
    expect(d1).toContain('options:remote_ip=192.168.50.101');
    expect(d1).toContain(`external_ids:netplumb-id=${tun.id}`);
    expect(t.world.calls.find((c) => c.host === 'docker3' && c.argv.includes('add-port'))!.argv).toContain(
      'options:remote_ip=10.10.10.101',
    );
    expect((await t.bridge('docker1/ovs_bridge')).overlayMtu).toBe(1462);
    expect((await t.bridge('docker3/ovs_bridge')).overlayMtu).toBe(1462);
    expect((await (await t.json('GET', `/tunnels/${tun.id}`)).json()).endpoints).toHaveLength(2);
    const obs = await (await t.json('GET', `/tunnels/${tun.id}?observe=true`)).json();
    expect(obs.observed.endpoints.map((e: { ofport: number; error: string | null; drift: unknown[] }) => [e.ofport, e.error])).toEqual([
      [1, null],
      [1, null],
    ]);
  });

  it('VXLAN with a VNI and port; OVS to Linux end; MTU per end (the Linux bridge has MTU 9000), the lower one for the tunnel and bridges', async () => {
    const t = await world();
    const r = await t.json('POST', '/tunnels', {
      type: 'vxlan',
      key: 5000,
      dstPort: 4790,
      endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: t.br['docker3/lx']!.id, portName: 'vx0' }],
    });
    expect(r.status).toBe(201);
    const tun = await r.json();
    expect(tun).toMatchObject({
      key: 5000,
      dstPort: 4790,
      overlayMtu: 1450,
      endpoints: [
        { portName: 'vxlan-docker3', overlayMtu: 1450 },
        { portName: 'vx0', bridgeType: 'linux', overlayMtu: 8950 },
      ],
    });
    expect(t.world.calls.filter((c) => c.host === 'docker3').map((c) => c.argv.join(' '))).toEqual(
      expect.arrayContaining([
        'ip link add name vx0 type vxlan id 5000 remote 10.10.10.101 dstport 4790 local 192.168.50.101',
        `ip link set dev vx0 alias netplumb:${tun.id}`,
        'ip link set dev vx0 master lx',
        'ip link set dev vx0 up',
      ]),
    );
    expect((await t.bridge('docker3/lx')).overlayMtu).toBe(1450);
  });

  it('bad fields → 422 with pointers, no job, no command', async () => {
    const t = await world();
    const cases: [unknown, string][] = [
      [{ type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker1/br2' }] }, '/endpoints/1/bridge'],
      [{ type: 'gre', endpoints: [{ bridge: 'docker5/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] }, '/endpoints/0/bridge'],
      [{ ...GRE, key: 2 ** 32 }, '/key'],
      [{ ...GRE, type: 'vxlan', key: 2 ** 24 }, '/key'],
      [{ ...GRE, type: 'geneve', key: 16_777_216 }, '/key'],
      [{ ...GRE, key: 1.5 }, '/key'],
      [{ ...GRE, dstPort: 4789 }, '/dstPort'],
      [{ ...GRE, type: 'vxlan', dstPort: 70000 }, '/dstPort'],
      [
        { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge', portName: 'gre;id' }, { bridge: 'docker3/ovs_bridge' }] },
        '/endpoints/0/portName',
      ],
      [
        { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge', portName: 'a-name-too-long' + 'x' }] },
        '/endpoints/1/portName',
      ],
      [
        { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge', portName: '-gre' }] },
        '/endpoints/1/portName',
      ],
      [{ type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }] }, '/endpoints'],
      [{ ...GRE, labels: { 'bad key!': 'x' } }, '/labels/bad key!'],
      [{ ...GRE, extra: 1 }, '/'],
    ];
    for (const [body, pointer] of cases) {
      const r = await t.json('POST', '/tunnels', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      const p = await r.json();
      expect(
        p.errors.map((e: { pointer: string }) => e.pointer),
        JSON.stringify(body),
      ).toContain(pointer);
    }
    const noIp = await (
      await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'docker5/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] })
    ).json();
    expect(noIp.errors[0].detail).toContain('tunnelIp');
    const nf = await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/nope' }] });
    expect(nf.status).toBe(404);
    expect((await nf.json()).errors[0].pointer).toBe('/endpoints/1/bridge');
    expect(t.world.calls).toHaveLength(0);
    expect((await t.store.listJobs({ limit: 100, kind: 'tunnel.create' })).items).toHaveLength(0);
    expect((await (await t.json('GET', '/tunnels')).json()).items).toHaveLength(0);
  });

  it('a Linux gretap end on a kernel without gre → 422 naming it; OVS bridges (userspace GRE) are fine there', async () => {
    const t = await world({ noGre: ['docker3'] });
    const r = await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/lx' }] });
    expect(r.status).toBe(422);
    const p = await r.json();
    expect(p.errors[0].pointer).toBe('/endpoints/1/bridge');
    expect(p.errors[0].detail).toMatch(/no GRE support.*gre module/);
    expect((await t.json('POST', '/tunnels', GRE)).status).toBe(201);
  });

  it('the second end fails → the first is undone (del-port on docker1 ran), 502, no record, no overlay MTU', async () => {
    const t = await world();
    t.world.on((argv, host) =>
      host === 'docker3' && argv.includes('add-port') ? { exitCode: 1, stderr: 'ovs-vsctl: no bridge named ovs_bridge' } : undefined,
    );
    const r = await t.json('POST', '/tunnels', GRE);
    expect(r.status).toBe(502);
    const p = await r.json();
    expect(p.detail).toContain('docker3');
    expect(p.detail).toContain('no bridge named ovs_bridge');
    const iAdd = t.world.calls.findIndex((c) => c.host === 'docker1' && c.argv.includes('add-port'));
    const iUndo = t.world.calls.findIndex(
      (c) => c.host === 'docker1' && c.argv.join(' ') === 'ovs-vsctl --timeout=10 --if-exists del-port ovs_bridge gre-docker3',
    );
    expect(iAdd).toBeGreaterThanOrEqual(0);
    expect(iUndo).toBeGreaterThan(iAdd);
    const logs = (await (await t.json('GET', `/jobs/${p.jobId}/logs`)).json()).items.map((l: { text: string }) => l.text);
    expect(logs.some((l: string) => l.includes('undoing 1 completed step'))).toBe(true);
    expect((await (await t.json('GET', '/tunnels')).json()).items).toHaveLength(0);
    expect((await t.bridge('docker1/ovs_bridge')).overlayMtu).toBeNull();
  });

  it("OVS accepted the row but could not make the port (Interface error) → both ends undone, 502 with OVS's error", async () => {
    const t = await world({
      ovsError: (host) => (host === 'docker3' ? 'could not add network device gre-docker1 to ofproto (File exists)' : null),
    });
    const r = await t.json('POST', '/tunnels', GRE);
    expect(r.status).toBe(502);
    expect((await r.json()).detail).toContain('File exists');
    const dels = t.world.calls
      .filter((c) => c.argv.includes('del-port'))
      .map((c) => c.host)
      .sort();
    expect(dels).toEqual(['docker1', 'docker3']);
    expect((await (await t.json('GET', '/tunnels')).json()).items).toHaveLength(0);
  });

  it('list by host (id or name) and bridge; delete both ends → 204, overlay MTU cleared; a second delete → 404', async () => {
    const t = await world();
    const a = await (await t.json('POST', '/tunnels', GRE)).json();
    const b = await (
      await t.json('POST', '/tunnels', { type: 'vxlan', key: 9, endpoints: [{ bridge: 'docker1/br2' }, { bridge: 'docker3/lx' }] })
    ).json();
    expect(b.endpoints[0].portName).toBe('vxlan-docker3');
    const ids = async (q: string) => (await (await t.json('GET', `/tunnels${q}`)).json()).items.map((x: { id: string }) => x.id);
    expect(await ids('?host=docker1')).toEqual([a.id, b.id]);
    const d3 = (await (await t.json('GET', '/hosts/docker3')).json()).id;
    expect(await ids(`?host=${d3}`)).toEqual([a.id, b.id]);
    expect(await ids('?host=docker5')).toEqual([]);
    expect(await ids('?host=nohost')).toEqual([]);
    expect(await ids('?bridge=docker3/lx')).toEqual([b.id]);
    const page = await (await t.json('GET', '/tunnels?limit=1')).json();
    expect(page.items.map((x: { id: string }) => x.id)).toEqual([a.id]);
    expect(await ids(`?limit=1&cursor=${page.nextCursor}`)).toEqual([b.id]);

    t.world.calls = [];
    expect((await t.json('DELETE', `/tunnels/${a.id}`)).status).toBe(204);
    expect(
      t.world.calls
        .filter((c) => c.argv.includes('del-port'))
        .map((c) => `${c.host} ${c.argv.at(-1)}`)
        .sort(),
    ).toEqual(['docker1 gre-docker3', 'docker3 gre-docker1']);
    expect((await t.json('GET', `/tunnels/${a.id}`)).status).toBe(404);
    expect((await t.json('DELETE', `/tunnels/${a.id}`)).status).toBe(404);
    expect((await t.bridge('docker1/ovs_bridge')).overlayMtu).toBeNull();
    expect((await t.bridge('docker3/ovs_bridge')).overlayMtu).toBeNull();
    expect((await t.bridge('docker3/lx')).overlayMtu).toBe(1450);
    expect((await t.json('DELETE', `/tunnels/${b.id}`)).status).toBe(204);
    expect(t.world.calls.some((c) => c.host === 'docker3' && c.argv.join(' ') === 'ip link del dev vxlan-docker1')).toBe(true);
    expect((await t.bridge('docker3/lx')).overlayMtu).toBeNull();
  });

  it('port names: taken on the host → 409 at /endpoints/0/portName; defaults get a suffix; a loop or a twin tunnel → 409', async () => {
    const t = await world();
    const a = await (await t.json('POST', '/tunnels', GRE)).json();
    const taken = await t.json('POST', '/tunnels', {
      type: 'gre',
      key: 1,
      endpoints: [{ bridge: 'docker1/br2', portName: 'gre-docker3' }, { bridge: 'docker3/lx' }],
    });
    expect(taken.status).toBe(409);
    const p = await taken.json();
    expect(p.errors[0].pointer).toBe('/endpoints/0/portName');
    expect(p.existing).toBe(a.id);
    // a bridge's own name is a port name too
    expect(
      (
        await t.json('POST', '/tunnels', {
          type: 'gre',
          key: 1,
          endpoints: [{ bridge: 'docker1/br2', portName: 'ovs_bridge' }, { bridge: 'docker3/lx' }],
        })
      ).status,
    ).toBe(409);
    // a second tunnel between the same two bridges would close an L2 loop
    const loop = await t.json('POST', '/tunnels', { ...GRE, key: 7 });
    expect(loop.status).toBe(409);
    expect((await loop.json()).detail).toContain('loop');
    // same type, remote and key on a host: OVS could not tell them apart
    const twin = await t.json('POST', '/tunnels', { type: 'gre', endpoints: [{ bridge: 'docker1/br2' }, { bridge: 'docker3/lx' }] });
    expect(twin.status).toBe(409);
    expect((await twin.json()).errors[0].pointer).toBe('/key');
    const ok = await t.json('POST', '/tunnels', { type: 'gre', key: 2, endpoints: [{ bridge: 'docker1/br2' }, { bridge: 'docker3/lx' }] });
    expect(ok.status).toBe(201);
    const o = await ok.json();
    expect(o.endpoints.map((e: { portName: string }) => e.portName)).toEqual(['gre-docker3-2', 'gre-docker1-2']);
    // the Linux bridge end needs gretap: this fake kernel has gre; the key counts in the overhead (42)
    expect(o.overlayMtu).toBe(1458);
  });

  it('a bridge MTU change moves the overlay MTU; cascade delete of a bridge takes its tunnels (both ends)', async () => {
    const t = await world();
    const tun = await (await t.json('POST', '/tunnels', GRE)).json();
    expect((await t.json('PATCH', `/bridges/${t.br['docker1/ovs_bridge']!.id}`, { mtu: 1400 })).status).toBe(200);
    const after = await (await t.json('GET', `/tunnels/${tun.id}`)).json();
    expect(after.endpoints.map((e: { overlayMtu: number }) => e.overlayMtu)).toEqual([1362, 1462]);
    expect(after.overlayMtu).toBe(1362);
    expect((await t.bridge('docker3/ovs_bridge')).overlayMtu).toBe(1362);

    expect((await t.json('DELETE', `/bridges/${t.br['docker1/ovs_bridge']!.id}`)).status).toBe(409);
    t.world.calls = [];
    expect((await t.json('DELETE', `/bridges/${t.br['docker1/ovs_bridge']!.id}?cascade=true`)).status).toBe(204);
    expect(t.world.calls.some((c) => c.host === 'docker3' && c.argv.includes('del-port'))).toBe(true);
    expect((await t.json('GET', `/tunnels/${tun.id}`)).status).toBe(404);
    expect((await t.bridge('docker3/ovs_bridge')).overlayMtu).toBeNull();
  });
});
