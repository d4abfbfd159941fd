/**
 * netplumb as Docker's network + IPAM plugin, with fake hosts: a topology network published to Docker (the
 * `docker network create` on each of its hosts, removed on delete), the plugin protocol as dockerd speaks it (no
 * Content-Type, empty bodies, {"Err"} on failure, 404 for unknown methods), one address ledger across hosts, Join's
 * host steps (marked with the Docker EndpointID), a host failure and a slow host answered within the budget, and
 * the Docker-joined containers in the topology's view.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { createPluginProtocol } from '../../src/api/plugin/protocol.js';
import { dockerPluginBackend } from '../../src/kinds/docker-plugin.js';
import { DOCKER_RECORD } from '../../src/model/docker-plugin.js';

const NET_ID = 'a'.repeat(64);
const NET_ID3 = 'b'.repeat(64);
const EP = (n: number) => n.toString(16).padStart(64, 'e');

const DOC = {
  networks: {
    web: {
      bridge: { type: 'ovs', name: 'ovs_bridge', datapathType: 'netdev' },
      subnet: '10.11.12.0/24',
      tunnel: { type: 'gre' },
      hostAddresses: 'auto',
      docker: { name: 'web', hosts: ['docker1', 'docker3'] },
    },
  },
};

/** Docker networks per host, as the fake hosts' `docker network …` sees them. */
async function world() {
  const t = await testApp();
  const networks = new Map<string, Map<string, string>>();
  const failRm = new Set<string>();
  t.world.on((argv, host) => {
    if (argv[0] !== 'docker' || argv[1] !== 'network') return undefined;
    const mine = networks.get(host) ?? networks.set(host, new Map()).get(host)!;
    const name = argv[argv.length - 1]!;
    if (argv[2] === 'inspect')
      return mine.has(name)
        ? { stdout: `${'f'.repeat(64)} netplumb ${mine.get(name)}\n` }
        : { exitCode: 1, stderr: `Error: No such network: ${name}\n` };
    if (argv[2] === 'create') {
      mine.set(name, argv[argv.indexOf('--opt') + 1]!.split('=')[1]!);
      return { stdout: `${'f'.repeat(64)}\n` };
    }
    if (argv[2] === 'rm') {
      if (failRm.has(host))
        return { exitCode: 1, stderr: `Error response from daemon: error while removing network: network ${name} has active endpoints\n` };
      mine.delete(name);
      return { stdout: `${name}\n` };
    }
    return undefined;
  });
  for (const [name, ip] of [
    ['docker1', '10.10.10.101'],
    ['docker3', '192.168.50.101'],
  ] as const)
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  const hostId = async (name: string) => ((await (await t.json('GET', `/hosts/${name}`)).json()) as { id: string }).id;
  const plugin = async (name: string, stepBudgetMs?: number) => {
    const app = createPluginProtocol(dockerPluginBackend({ store: t.deps.store, runner: t.deps.runner, stepBudgetMs }, await hostId(name)));
    // As dockerd sends it: POST, no Content-Type, the body as text (or none).
    return async (method: string, body?: unknown) => {
      const res = await app.request(`/${method}`, { method: 'POST', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
    };
  };
  return { ...t, networks, failRm, plugin, hostId };
}

async function applied() {
  const t = await world();
  const res = await t.json('PUT', '/topologies/seed', DOC);
  expect(res.status, await res.clone().text()).toBe(201);
  return t;
}

describe('Docker plugin: topology networks published to Docker', () => {
  it('runs docker network create on every host of the network, and docker network rm on delete', async () => {
    const t = await applied();
    const creates = t.world.calls.filter((c) => c.argv[0] === 'docker' && c.argv[2] === 'create');
    expect(creates.map((c) => c.host).sort()).toEqual(['docker1', 'docker3']);
    expect(creates[0]!.argv).toEqual([
      'docker', 'network', 'create', '--driver', 'netplumb', '--ipam-driver', 'netplumb', '--subnet', '10.11.12.0/24',
      '--ipam-opt', 'netplumb.network=seed/web', '--opt', 'netplumb.network=seed/web', 'web',
    ]); // prettier-ignore
    // A re-apply finds them there: nothing is created again.
    t.world.calls = [];
    expect((await t.json('PUT', '/topologies/seed', DOC)).status).toBe(200);
    expect(t.world.calls.filter((c) => c.argv[2] === 'create')).toEqual([]);
    // Delete: Docker's networks go first.
    expect((await t.json('DELETE', '/topologies/seed')).status).toBe(204);
    expect(
      t.world.calls
        .filter((c) => c.argv[0] === 'docker' && c.argv[2] === 'rm')
        .map((c) => c.host)
        .sort(),
    ).toEqual(['docker1', 'docker3']);
    expect(t.networks.get('docker1')!.size + t.networks.get('docker3')!.size).toBe(0);
  });

  it('refuses a published network without an IPv4 subnet, or a Docker name another topology has, before any command', async () => {
    const t = await applied();
    t.world.calls = [];
    const noSubnet = { networks: { api: { docker: { name: 'api', hosts: ['docker1'] } } } };
    const res = await t.json('PUT', '/topologies/other', noSubnet);
    expect(res.status).toBe(422);
    expect((await res.json()).errors).toContainEqual(expect.objectContaining({ pointer: '/networks/api/docker' }));
    const clash = { networks: { x: { subnet: '10.20.0.0/24', docker: { name: 'web', hosts: ['docker1'] } } } };
    const res2 = await t.json('PUT', '/topologies/other', clash);
    expect(res2.status).toBe(422);
    expect(JSON.stringify(await res2.json())).toContain("topology seed's network web");
    expect(t.world.calls.filter((c) => c.argv[0] === 'docker')).toEqual([]);
  });

  it('a topology delete stops when Docker still has containers on the network', async () => {
    const t = await applied();
    t.failRm.add('docker3');
    const res = await t.json('DELETE', '/topologies/seed');
    expect(res.status).toBe(409);
    expect((await res.json()).detail).toContain('has active endpoints');
    expect((await t.json('GET', '/topologies/seed')).status).toBe(200);
  });
});

describe('Docker plugin protocol', () => {
  it('answers what dockerd asks with no body and no Content-Type; unknown methods 404; errors as {"Err"}', async () => {
    const t = await applied();
    const call = await t.plugin('docker1');
    const activate = await call('Plugin.Activate');
    expect(activate).toMatchObject({ status: 200, body: { Implements: ['NetworkDriver', 'IpamDriver'] } });
    expect(activate.type).toBe('application/vnd.docker.plugins.v1.2+json');
    expect((await call('NetworkDriver.GetCapabilities')).body).toEqual({ Scope: 'local', ConnectivityScope: 'local' });
    expect((await call('IpamDriver.GetDefaultAddressSpaces')).body).toEqual({
      LocalDefaultAddressSpace: 'netplumb',
      GlobalDefaultAddressSpace: 'netplumb',
    });
    expect((await call('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: {} })).status).toBe(200);
    expect(await call('NetworkDriver.Nope')).toMatchObject({ status: 404, body: { Err: expect.stringContaining('unknown method') } });
    // A method that needs arguments, without them: an error Docker prints, never a crash.
    const empty = await call('IpamDriver.RequestPool');
    expect(empty.status).toBe(400);
    expect(empty.body.Err).toMatch(/^netplumb: name the topology network/);
    const notJson = await createPluginProtocol(dockerPluginBackend(t.deps, await t.hostId('docker1'))).request('/NetworkDriver.Join', {
      method: 'POST',
      body: '{oops',
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ Err: 'netplumb: the request body is not JSON' });
  });

  it('one address ledger across hosts: pool, gateway, unique addresses, members kept out, freed ones reused', async () => {
    const t = await applied();
    const top = (await (await t.json('GET', '/topologies/seed')).json()) as { allocations: { hostAddresses: Record<string, string> } };
    const bridges = Object.values(top.allocations.hostAddresses).map((a) => a.split('/')[0]);
    expect(bridges).toEqual(['10.11.12.1', '10.11.12.2']);
    const d1 = await t.plugin('docker1');
    const d3 = await t.plugin('docker3');
    const pool = await d1('IpamDriver.RequestPool', {
      AddressSpace: 'netplumb',
      Pool: '10.11.12.0/24',
      Options: { 'netplumb.network': 'seed/web' },
    });
    expect(pool).toMatchObject({
      status: 200,
      body: { PoolID: 'seed/web', Pool: '10.11.12.0/24', Data: { 'com.docker.network.gateway': '10.11.12.3/24' } },
    });
    // The other host gets the same pool and gateway (by subnet alone, too).
    expect((await d3('IpamDriver.RequestPool', { Pool: '10.11.12.0/24' })).body).toEqual(pool.body);
    const gw = await d3('IpamDriver.RequestAddress', { PoolID: 'seed/web', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    expect(gw.body.Address).toBe('10.11.12.3/24');
    const a = await d1('IpamDriver.RequestAddress', { PoolID: 'seed/web' });
    const b = await d3('IpamDriver.RequestAddress', { PoolID: 'seed/web' });
    const c = await d1('IpamDriver.RequestAddress', { PoolID: 'seed/web' });
    expect([a.body.Address, b.body.Address, c.body.Address]).toEqual(['10.11.12.4/24', '10.11.12.5/24', '10.11.12.6/24']);
    // A given address (`docker run --ip`) that another host's container holds, or a bridge holds: refused.
    const taken = await d3('IpamDriver.RequestAddress', { PoolID: 'seed/web', Address: '10.11.12.4' });
    expect(taken).toMatchObject({ status: 409, body: { Err: expect.stringContaining('already in use') } });
    expect((await d3('IpamDriver.RequestAddress', { PoolID: 'seed/web', Address: '10.11.12.1' })).status).toBe(409);
    expect((await d3('IpamDriver.RequestAddress', { PoolID: 'seed/web', Address: '10.99.0.1' })).status).toBe(400);
    // Released, then reused; releasing the gateway keeps it (every host shares it).
    expect((await d3('IpamDriver.ReleaseAddress', { PoolID: 'seed/web', Address: '10.11.12.5' })).status).toBe(200);
    expect((await d1('IpamDriver.ReleaseAddress', { PoolID: 'seed/web', Address: '10.11.12.3' })).status).toBe(200);
    expect((await d1('IpamDriver.RequestAddress', { PoolID: 'seed/web' })).body.Address).toBe('10.11.12.5/24');
    expect((await d1('IpamDriver.RequestAddress', { PoolID: 'seed/web' })).body.Address).toBe('10.11.12.7/24');
    // A member added to the topology later takes none of Docker's addresses.
    const withMember = structuredClone(DOC) as typeof DOC & { networks: { web: { members: unknown[] } } };
    withMember.networks.web.members = [{ host: 'docker1', netns: 'ns1' }];
    t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
    const re = await t.json('PUT', '/topologies/seed', withMember);
    expect(re.status, await re.clone().text()).toBe(200);
    expect(Object.values((await re.json()).allocations.memberAddresses)).toEqual(['10.11.12.8/24']);
    const given = structuredClone(withMember);
    (given.networks.web.members[0] as { address?: string }).address = '10.11.12.4';
    const refused = await t.json('PUT', '/topologies/seed', given);
    expect(refused.status).toBe(422);
    expect(JSON.stringify(await refused.json())).toContain('held by a Docker container');
  });

  it('CreateNetwork, CreateEndpoint, Join (veth on the bridge, marked with the EndpointID), Leave, DeleteEndpoint', async () => {
    const t = await applied();
    const d1 = await t.plugin('docker1');
    expect((await d1('NetworkDriver.CreateNetwork', { NetworkID: NET_ID, Options: { 'com.docker.network.generic': { 'netplumb.network': 'seed/web' } }, IPv4Data: [{ Pool: '10.11.12.0/24' }] })).status).toBe(200); // prettier-ignore
    const ep = await d1('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP(1), Interface: { Address: '10.11.12.4/24' } });
    expect(ep.status).toBe(200);
    const mac = (ep.body.Interface as { MacAddress: string }).MacAddress;
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    // With a MAC from Docker, the driver must not answer one (libnetwork refuses a changed interface).
    expect((await d1('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP(2), Interface: { Address: '10.11.12.5/24', MacAddress: '02:00:00:00:00:05' } })).body).toEqual({}); // prettier-ignore
    const badMac = { NetworkID: NET_ID, EndpointID: EP(3), Interface: { Address: '10.11.12.6/24', MacAddress: '-x; reboot' } };
    expect(await d1('NetworkDriver.CreateEndpoint', badMac)).toMatchObject({
      status: 400,
      body: { Err: expect.stringContaining('not a MAC') },
    });
    t.world.calls = [];
    const join = await d1('NetworkDriver.Join', {
      NetworkID: NET_ID,
      EndpointID: EP(1),
      SandboxKey: '/var/run/docker/netns/abc',
      Options: {},
    });
    expect(join.status, JSON.stringify(join.body)).toBe(200);
    const src = (join.body.InterfaceName as { SrcName: string; DstPrefix: string }).SrcName;
    expect(join.body.InterfaceName).toEqual({ SrcName: expect.stringMatching(/^npc[0-9a-f]{10}$/), DstPrefix: 'eth' });
    const cmds = t.world.calls.map((c) => c.argv.join(' '));
    const hostEnd = src.replace('npc', 'npd');
    // The overlay MTU of the network's GRE tunnel (1500 - 42), the MAC, the mark, the port, offload off (netdev).
    expect(cmds).toContain(`ip link add dev ${hostEnd} mtu 1458 type veth peer name ${src} mtu 1458 address ${mac}`);
    expect(
      cmds.some((c) => c.includes(`add-port ovs_bridge ${hostEnd}`) && c.includes(`external_ids:netplumb-docker-endpoint=${EP(1)}`)),
    ).toBe(true);
    expect(cmds).toContain(`ethtool -K ${src} tx off`);
    // The topology shows the container as a member.
    const view = (await (await t.json('GET', '/topologies/seed')).json()) as { dockerMembers: unknown[] };
    expect(view.dockerMembers).toContainEqual(
      expect.objectContaining({
        host: 'docker1',
        network: 'web',
        dockerNetwork: 'web',
        endpointId: EP(1),
        address: '10.11.12.4/24',
        joined: true,
      }),
    );
    // And in its picture, on its host's bridge.
    const graph = await t.json('GET', '/topologies/seed/graph?format=mermaid');
    expect(graph.status).toBe(200);
    expect(await graph.text()).toContain(`docker ${EP(1).slice(0, 12)}`);
    // The job that did it is in /jobs, as any other.
    const jobs = (await (await t.json('GET', '/jobs?kind=docker.join')).json()) as { items: { status: string }[] };
    expect(jobs.items.map((j) => j.status)).toEqual(['succeeded']);
    t.world.calls = [];
    expect((await d1('NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP(1) })).status).toBe(200);
    expect(t.world.calls.map((c) => c.argv.join(' '))).toEqual([
      `ovs-vsctl --timeout=10 --if-exists del-port ovs_bridge ${hostEnd}`,
      `ip link del dev ${hostEnd}`,
    ]);
    expect((await d1('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP(1) })).status).toBe(200);
    expect((await d1('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP(1) })).status).toBe(200);
    expect((await d1('NetworkDriver.DeleteNetwork', { NetworkID: NET_ID })).status).toBe(200);
    expect(await t.deps.store.allResources(DOCKER_RECORD.network)).toEqual([]);
    expect((await t.deps.store.allResources(DOCKER_RECORD.endpoint)).map((r) => (r.data as { endpointId: string }).endpointId)).toEqual([
      EP(2),
    ]);
  });

  it('a host that fails answers {"Err"} with its reason; a slow one answers within the budget; a host off the network is refused', async () => {
    const t = await applied();
    const d1 = await t.plugin('docker1', 300);
    await d1('NetworkDriver.CreateNetwork', {
      NetworkID: NET_ID,
      Options: { 'com.docker.network.generic': { 'netplumb.network': 'seed/web' } },
    });
    await d1('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP(1), Interface: { Address: '10.11.12.4/24' } });
    t.world.on((argv) =>
      argv[0] === 'ovs-vsctl' && argv.includes('add-port') ? { exitCode: 1, stderr: 'ovs-vsctl: no bridge named ovs_bridge\n' } : undefined,
    );
    const failed = await d1('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP(1) });
    expect(failed.status).toBe(500);
    expect(failed.body.Err).toMatch(/^netplumb: docker\.join failed on the host \(job job_[a-z2-7]+\): .*no bridge named ovs_bridge/);
    t.world.delayMs = 1000;
    const started = Date.now();
    const slow = await d1('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP(1) });
    expect(Date.now() - started).toBeLessThan(900);
    expect(slow.status).toBe(504);
    expect(slow.body.Err).toContain('did not finish within 0.3 s');
    t.world.delayMs = 0;
    await t.deps.runner.drain();
    // A third host, not on the network: its dockerd cannot make the network there.
    expect((await t.json('POST', '/hosts', localHost('docker9', { tunnelIp: '10.10.10.109' }))).status).toBe(201);
    const d9 = await t.plugin('docker9');
    const off = await d9('NetworkDriver.CreateNetwork', {
      NetworkID: NET_ID3,
      Options: { 'com.docker.network.generic': { 'netplumb.network': 'seed/web' } },
    });
    expect(off).toMatchObject({ status: 409, body: { Err: expect.stringContaining('has no bridge on docker9') } });
  });
});
