import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

async function withBridges() {
  const t = await testApp();
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] })).status).toBe(
    201,
  );
  t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 4242, running: true });
  t.world.containers.set('stopped', { id: 'dead'.padEnd(64, '0'), pid: 0, running: false });
  // an empty target namespace: only lo
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  t.world.calls = [];
  return t;
}

describe('attachments API', () => {
  it('attaches a container by name: resolves its pid, picks eth1, answers 201', async () => {
    const t = await withBridges();
    const r = await t.json('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1' },
      addresses: ['10.11.12.100/24'],
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a).toMatchObject({
      ifname: 'eth1',
      hostName: 'docker1',
      bridgeName: 'ovs_bridge',
      resolved: { pid: 4242 },
      txChecksumOffloadOff: true,
      state: 'ready',
    });
    // No MAC asked for: the service picks one (locally administered) and keeps it for re-attaches.
    const veth = new RegExp(`^ip link add dev ${a.hostIfname} type veth peer name eth1 address 02(:[0-9a-f]{2}){5} netns 4242$`);
    expect(t.world.calls.some((c) => veth.test(c.argv.join(' ')))).toBe(true);
    const list = await (await t.json('GET', '/attachments?container=web1&bridge=docker1/ovs_bridge')).json();
    expect(list.items.map((x: { id: string }) => x.id)).toEqual([a.id]);
    expect((await (await t.json('GET', '/attachments?host=nohost')).json()).items).toHaveLength(0);
  });

  it("defaults the MTU to the bridge's overlay MTU once a tunnel lowered it", async () => {
    const t = await withBridges();
    const br = (await t.store.getResourceByKey('bridge', `${(await t.store.getResourceByKey('host', 'docker1'))!.id}/ovs_bridge`))!;
    await t.store.updateResource({ ...br, data: { ...(br.data as object), overlayMtu: 1462 } });
    const a = await (await t.json('POST', '/attachments', { bridge: br.id, target: { container: 'web1' } })).json();
    expect(a.mtu).toBe(1462);
  });

  it('missing container → 404, stopped → 409, ifname present → 409: no veth made, no record', async () => {
    const t = await withBridges();
    const missing = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'ghost' } });
    expect(missing.status).toBe(404);
    expect((await missing.json()).type).toBe('https://netplumb.dev/problems/container-not-found');
    const stopped = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'stopped' } });
    expect(stopped.status).toBe(409);
    expect((await stopped.json()).type).toBe('https://netplumb.dev/problems/container-not-running');
    t.world.on((argv) =>
      argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }, { ifname: 'eth1' }]) } : undefined,
    );
    const clash = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, ifname: 'eth1' });
    expect(clash.status).toBe(409);
    expect(t.world.calls.some((c) => c.argv.includes('veth'))).toBe(false);
    expect((await (await t.json('GET', '/attachments')).json()).items).toHaveLength(0);
    const auto = await (await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' } })).json();
    expect(auto.ifname).toBe('eth2');
  });

  it('bad fields → 422 with pointers, no job, no command', async () => {
    const t = await withBridges();
    const r = await t.json('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1;id', pid: 3 },
      ifname: '-eth',
      addresses: ['10.0.0.1'],
      gateway: 'x',
      mac: '01:00:00:00:00:00',
      mtu: 10,
      vlan: 4095,
    });
    expect(r.status).toBe(422);
    const pointers = (await r.json()).errors.map((e: { pointer: string }) => e.pointer);
    for (const p of ['/target', '/ifname', '/addresses/0', '/gateway', '/mac', '/mtu', '/vlan']) expect(pointers, p).toContain(p);
    const vlanOnLinux = await t.json('POST', '/attachments', { bridge: 'docker1/docker0', target: { pid: 1 }, vlan: 10 });
    expect(vlanOnLinux.status).toBe(422);
    expect((await vlanOnLinux.json()).errors[0].pointer).toBe('/vlan');
    const noBridge = await t.json('POST', '/attachments', { bridge: 'docker1/nope', target: { pid: 1 } });
    expect(noBridge.status).toBe(404);
    expect(t.world.calls).toHaveLength(0);
    expect((await t.store.listJobs({ limit: 100, kind: 'attachment.create' })).items).toHaveLength(0);
  });

  it('a failing step mid-plan undoes the veth and the port; delete answers 204; bridge delete refuses while in use', async () => {
    const t = await withBridges();
    t.world.on((argv) => (argv.includes('ethtool') ? { exitCode: 1, stderr: 'Cannot set device feature settings' } : undefined));
    const r = await t.json('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1' },
      addresses: ['10.11.12.100/24'],
    });
    expect(r.status).toBe(502);
    const cmds = t.world.calls.map((c) => c.argv.join(' '));
    const iDelPort = cmds.findIndex((c) => c.includes('del-port'));
    const iDel = cmds.findIndex((c) => c.startsWith('ip link del dev np'));
    expect(iDelPort).toBeGreaterThan(0);
    expect(iDel).toBeGreaterThan(iDelPort);
    t.world.responders.shift();
    const a = await (await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' } })).json();
    const br = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    expect((await t.json('DELETE', `/bridges/${br.id}`)).status).toBe(409);
    expect((await t.json('DELETE', `/attachments/${a.id}`)).status).toBe(204);
    expect((await t.json('GET', `/attachments/${a.id}`)).status).toBe(404);
  });

  it('bridge delete with cascade=true removes its attachments in the same job', async () => {
    const t = await withBridges();
    const a = await (await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' } })).json();
    const br = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    t.world.on((argv) =>
      argv[0] === 'ip' && argv.includes(a.hostIfname) && argv.includes('show') ? { stdout: '[{"ifname":"x"}]' } : undefined,
    );
    expect((await t.json('DELETE', `/bridges/${br.id}?cascade=true`)).status).toBe(204);
    expect((await t.json('GET', `/attachments/${a.id}`)).status).toBe(404);
    expect(t.world.calls.some((c) => c.argv.join(' ') === `ip link del dev ${a.hostIfname}`)).toBe(true);
  });
});

describe('host interface names', () => {
  it('a hostIfname already used on the host by a bridge or tunnel port → 409 before any job', async () => {
    const t = await withBridges();
    const r = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, hostIfname: 'docker0' });
    expect(r.status).toBe(409);
    expect((await r.json()).errors[0].pointer).toBe('/hostIfname');
    expect(t.world.calls).toHaveLength(0);
  });
});
