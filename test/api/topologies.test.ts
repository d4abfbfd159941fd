/**
 * Topologies through the API with the fake host: validation (every error at once, with pointers, no command),
 * the plan as data (dry run), apply, an unchanged re-apply that runs nothing but reads, an edit that runs only its
 * change, ownership (409 for a direct delete), YAML, and delete.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

const SEED = {
  networks: {
    web: {
      bridge: { type: 'ovs', name: 'ovs_bridge' },
      subnet: '10.11.12.0/24',
      tunnel: { type: 'gre' },
      hostAddresses: 'auto',
      members: [
        { host: 'docker1', container: 'web1', address: '10.11.12.100' },
        { host: 'docker3', container: 'web2' },
      ],
    },
  },
};

async function world() {
  const t = await testApp();
  t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
  t.world.containers.set('web2', { id: 'd'.repeat(64), pid: 4343, running: true });
  // Inside a container: only lo until something is attached.
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  for (const [name, ip] of [
    ['docker1', '10.10.10.101'],
    ['docker3', '192.168.50.101'],
  ] as const) {
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  }
  t.world.calls = [];
  return t;
}

const mutating = (calls: { argv: string[] }[]) =>
  calls.filter(
    (c) =>
      !c.argv.includes('-j') &&
      !c.argv.includes('show') &&
      !c.argv.includes('br-exists') &&
      !c.argv.includes('br-get-external-id') &&
      !c.argv.includes('find') &&
      !c.argv.includes('list') &&
      !c.argv.includes('list-ports') &&
      !c.argv.includes('port-to-br') &&
      c.argv[0] !== 'stat',
  );

describe('topologies API', () => {
  it('every error in the document at once, with pointers, before any command or job', async () => {
    const t = await world();
    const bad = {
      networks: {
        web: {
          subnet: '10.11.12.0/24',
          members: [
            { host: 'nohost', container: 'web1' },
            { host: 'docker1', container: 'web1', address: '10.99.0.1' },
            { host: 'docker3', container: 'web2', address: '10.11.12.5' },
            { host: 'docker3', container: 'web3', address: '10.11.12.5' },
          ],
        },
        other: { subnet: '10.11.0.0/16', members: [{ host: 'docker1', container: 'x' }] },
      },
    };
    const r = await t.json('PUT', '/topologies/lab', bad);
    expect(r.status).toBe(422);
    const p = await r.json();
    const pointers = p.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/networks/web/members/0/host',
        '/networks/web/members/1/address',
        '/networks/web/members/3/address',
        '/networks/other/subnet',
      ]),
    );
    expect(t.world.calls).toHaveLength(0);
    expect((await (await t.json('GET', '/jobs')).json()).items.filter((j: { kind: string }) => j.kind.startsWith('topology'))).toHaveLength(
      0,
    );
    const schema = await t.json('PUT', '/topologies/lab', { networks: { web: { members: [{ host: 'docker1' }] } } });
    expect(schema.status).toBe(422);
    expect((await schema.json()).errors[0].pointer).toBe('/networks/web/members/0/container');
  });

  it('dry run: the plan as data, per host, with commands and disruption; nothing runs', async () => {
    const t = await world();
    const r = await t.json('PUT', '/topologies/seed?dryRun=true', SEED);
    expect(r.status).toBe(200);
    const plan = await r.json();
    expect(plan.changes.map((c: { action: string; slot: string }) => `${c.action} ${c.slot}`)).toEqual([
      'create bridge:web/docker1',
      'create bridge:web/docker3',
      'create tunnel:web/docker1~docker3',
      'create attachment:web/docker1/web1',
      'create attachment:web/docker3/web2',
    ]);
    expect(plan.allocations.memberAddresses).toEqual({ 'web/docker1/web1': '10.11.12.100/24', 'web/docker3/web2': '10.11.12.3/24' });
    expect(plan.allocations.hostAddresses).toEqual({ 'web/docker1': '10.11.12.1/24', 'web/docker3': '10.11.12.2/24' });
    expect(plan.changes[2].commands.docker1[0]).toContain('type=gre');
    expect(plan.changes.every((c: { disruption: string }) => c.disruption === 'none')).toBe(true);
    expect(t.world.calls).toHaveLength(0);
    expect((await t.json('GET', '/topologies/seed')).status).toBe(404);
  });

  it('apply, re-apply unchanged (reads only), edit (only the change runs), ownership, delete', async () => {
    const t = await world();
    const created = await t.json('PUT', '/topologies/seed', SEED);
    expect(created.status).toBe(201);
    const top = await created.json();
    expect(created.headers.get('location')).toBe('/topologies/seed');
    expect((await (await t.json('GET', created.headers.get('location')!)).json()).name).toBe('seed');
    expect(top.job.status).toBe('succeeded');
    expect(Object.keys(top.resources)).toHaveLength(5);
    expect(t.world.calls.some((c) => c.argv.includes('add-br') && c.argv.includes('ovs_bridge'))).toBe(true);
    const br = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    expect(br.addresses).toEqual(['10.11.12.1/24']);
    expect(br.overlayMtu).toBe(1458); // GRE with a key: the key is allocated so that parallel labs never share one

    // Owned resources change only through the topology.
    const direct = await t.json('DELETE', `/bridges/${br.id}?cascade=true`);
    expect(direct.status).toBe(409);
    expect((await direct.json()).detail).toContain('topology "seed"');

    t.world.calls = [];
    const again = await t.json('PUT', '/topologies/seed', SEED);
    expect(again.status).toBe(200);
    expect(again.headers.get('location')).toBeNull();
    const a2 = await again.json();
    expect(a2.plan.changes).toEqual([]);
    expect(mutating(t.world.calls)).toEqual([]);

    t.world.calls = [];
    const moved = structuredClone(SEED);
    moved.networks.web.members[0]!.address = '10.11.12.101';
    const edit = await (await t.json('PUT', '/topologies/seed', moved)).json();
    expect(
      edit.plan.changes.map((c: { action: string; slot: string; disruption: string }) => `${c.action} ${c.slot} ${c.disruption}`),
    ).toEqual(['update attachment:web/docker1/web1 link-flap']);
    const cmds = mutating(t.world.calls).map((c) => c.argv.join(' '));
    expect(cmds).toEqual([
      'nsenter --net=/proc/4242/ns/net ip addr del 10.11.12.100/24 dev eth1',
      'nsenter --net=/proc/4242/ns/net ip addr replace 10.11.12.101/24 dev eth1',
    ]);
    // web2's address was allocated, and stays.
    expect(edit.allocations.memberAddresses['web/docker3/web2']).toBe('10.11.12.3/24');

    const list = await (await t.json('GET', '/topologies')).json();
    expect(list.items.map((x: { name: string }) => x.name)).toEqual(['seed']);
    expect((await t.json('DELETE', '/topologies/seed')).status).toBe(204);
    for (const path of ['/bridges', '/tunnels', '/attachments', '/topologies'])
      expect((await (await t.json('GET', path)).json()).items).toEqual([]);
  });

  it('YAML documents; a YAML bomb is refused', async () => {
    const t = await world();
    const yaml = `name: seed\nnetworks:\n  web:\n    subnet: 10.11.12.0/24\n    members:\n      - { host: docker1, netns: blue }\n`;
    const r = await t.app.request('/topologies/seed?dryRun=true', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/yaml' },
      body: yaml,
    });
    expect(r.status).toBe(200);
    expect((await r.json()).allocations.memberAddresses).toEqual({ 'web/docker1/netns:blue': '10.11.12.1/24' });
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    const b = await t.app.request('/topologies/seed', { method: 'PUT', headers: { 'Content-Type': 'application/yaml' }, body: bomb });
    expect(b.status).toBe(422);
    const text = await t.app.request('/topologies/seed', { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
    expect(text.status).toBe(415);
  });

  it('two labs on the same hosts never collide: their keys, bridge names and host ends differ; neither touches the other', async () => {
    const t = await world();
    const lab = (subnet: string) => ({
      networks: {
        web: {
          subnet,
          tunnel: { type: 'vxlan' },
          members: [
            { host: 'docker1', netns: `a${subnet.split('.')[1]}` },
            { host: 'docker3', netns: `b${subnet.split('.')[1]}` },
          ],
        },
      },
    });
    t.world.on((argv) => (argv[0] === 'stat' ? { stdout: '4026531840\n4026532111\n' } : undefined));
    const a = await (await t.json('PUT', '/topologies/lab-a', lab('10.1.0.0/24'))).json();
    const b = await (await t.json('PUT', '/topologies/lab-b', lab('10.2.0.0/24'))).json();
    expect(a.job.status).toBe('succeeded');
    expect(b.job.status).toBe('succeeded');
    expect(a.allocations.keys.web).not.toBe(b.allocations.keys.web);
    expect(a.allocations.bridgeNames.web).not.toBe(b.allocations.bridgeNames.web);
    // Every interface name either lab made on the two hosts (a tunnel port at each end, a member's host end), pairwise
    // distinct: four each, eight names, none shared.
    const ends = [...Object.values(a.allocations.hostIfnames), ...Object.values(b.allocations.hostIfnames)] as string[];
    expect(ends).toHaveLength(8);
    expect(new Set(ends).size, `host ends: ${ends.join(' ')}`).toBe(ends.length);
    t.world.calls = [];
    expect((await t.json('DELETE', '/topologies/lab-a')).status).toBe(204);
    expect(t.world.calls.some((c) => c.argv.join(' ').includes(b.allocations.bridgeNames.web))).toBe(false);
    expect((await (await t.json('GET', '/topologies/lab-b')).json()).state).toBe('ready');
  });

  it('what the hosts cannot carry is refused with a pointer: the MTU budget, a tunnel type the kernel lacks', async () => {
    const t = await world();
    const tooBig = {
      networks: {
        web: {
          subnet: '10.1.0.0/24',
          tunnel: { type: 'vxlan' },
          members: [
            { host: 'docker1', netns: 'x1', mtu: 1500 },
            { host: 'docker3', netns: 'x3' },
          ],
        },
      },
    };
    const r1 = await (await t.json('PUT', '/topologies/lab?dryRun=true', tooBig)).json();
    expect(r1.errors).toEqual([{ pointer: '/networks/web/members/0/mtu', detail: '1500 is more than the vxlan tunnels carry (1450)' }]);
    // Kernels without the gre module (as on this machine): a Linux bridge cannot have a gretap port there.
    t.world.on((argv) => (argv[0] === 'sh' && argv.at(-1) === 'gre' ? { exitCode: 1 } : undefined));
    for (const h of ['docker1', 'docker3']) expect((await t.json('POST', `/hosts/${h}/probe`)).status).toBe(200);
    const gre = {
      networks: {
        web: {
          bridge: { type: 'linux' },
          subnet: '10.1.0.0/24',
          tunnel: { type: 'gre' },
          members: [
            { host: 'docker1', netns: 'x1' },
            { host: 'docker3', netns: 'x3' },
          ],
        },
      },
    };
    const r2 = await (await t.json('PUT', '/topologies/lab?dryRun=true', gre)).json();
    expect(r2.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/networks/web/tunnel/type', '/networks/web/tunnel/type']);
    expect(r2.errors[0].detail).toContain('no GRE support');
  });
});
