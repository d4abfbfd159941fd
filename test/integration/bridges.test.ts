/** Bridges on real sandbox hosts over SSH: OVS (userspace datapath) and Linux. */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridgePlan } from '../../src/ops/bridges.js';
import type { BridgeData } from '../../src/model/bridges.js';
import { startWorld, type World } from './harness.js';
import { hostExecutor } from '../../src/services.js';

let w: World;
beforeAll(async () => {
  w = await startWorld('ibr', [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }]);
  await w.registerHosts();
});
afterAll(async () => {
  await w?.close();
});

const sh = (argv: string[]) => w.sb.exec('docker1', argv);
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(w.baseUrl + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
const call = (method: string, path: string, body?: unknown) =>
  fetch(w.baseUrl + path, { method, ...(body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}) });

/** Everything a bridge can change on a host, as text to compare. */
async function hostState(): Promise<string> {
  const [show, links, addrs] = await Promise.all([
    sh(['ovs-vsctl', '--format=json', '--columns=name,datapath_type,external_ids,stp_enable,ports', 'list', 'Bridge']),
    sh(['ip', '-o', 'link', 'show']),
    sh(['ip', '-o', 'addr', 'show']),
  ]);
  // lifetimes and counters are not state, nor is the kernel's duplicate address detection still running on a
  // link-local address (`tentative` comes and goes with the kernel's timing, whatever netplumb does)
  return [show.stdout, links.stdout, addrs.stdout.replace(/valid_lft \S+ preferred_lft \S+/g, '').replace(/ tentative\b/g, '')].join('\n');
}

describe('bridges on a sandbox host', () => {
  it('OVS bridge with 10.11.12.1/24: in ovs-vsctl, address on the link, up, answers ping, datapath as auto chose', async () => {
    const r = await post('/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
    expect(r.status).toBe(201);
    const b = await r.json();
    const host = await w.np.hosts.get('docker1');
    expect(host.facts?.ovs?.datapathTypes).toContain('netdev');
    // this kernel has no openvswitch module, so auto must have picked the userspace datapath
    expect(host.facts?.kernelModules?.openvswitch).toBe(false);
    expect(b.datapathType).toBe('netdev');
    expect((await sh(['ovs-vsctl', 'br-exists', 'ovs_bridge'])).exitCode).toBe(0);
    expect((await sh(['ovs-vsctl', 'get', 'Bridge', 'ovs_bridge', 'datapath_type'])).stdout.trim()).toBe('netdev');
    expect((await sh(['ovs-vsctl', 'br-get-external-id', 'ovs_bridge', 'netplumb-id'])).stdout.trim()).toBe(b.id);
    const link = JSON.parse((await sh(['ip', '-j', 'addr', 'show', 'dev', 'ovs_bridge'])).stdout)[0];
    expect(link.flags).toContain('UP');
    expect(link.addr_info.some((a: { local: string; prefixlen: number }) => a.local === '10.11.12.1' && a.prefixlen === 24)).toBe(true);
    const ping = await sh(['ping', '-c', '1', '-W', '2', '10.11.12.1']);
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
  });

  it('Linux bridge with 172.17.0.1/16: a bridge link with the address and the mark', async () => {
    const r = await post('/bridges', { host: 'docker1', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] });
    expect(r.status).toBe(201);
    const b = await r.json();
    const link = JSON.parse((await sh(['ip', '-j', '-d', 'addr', 'show', 'dev', 'docker0'])).stdout)[0];
    expect(link.linkinfo.info_kind).toBe('bridge');
    expect(link.ifalias).toBe(`netplumb:${b.id}`);
    expect(link.addr_info.some((a: { local: string }) => a.local === '172.17.0.1')).toBe(true);
  });

  it('same Idempotency-Key → replay, one job; same name without a key → 409; adopt a hand-made bridge', async () => {
    const h = { 'Idempotency-Key': 'ibr-replay-1' };
    const r1 = await post('/bridges', { host: 'docker1', name: 'br_idem' }, h);
    expect(r1.status).toBe(201);
    const b1 = await r1.json();
    const r2 = await post('/bridges', { host: 'docker1', name: 'br_idem' }, h);
    expect(r2.status).toBe(201);
    expect(r2.headers.get('idempotency-replayed')).toBe('true');
    expect((await r2.json()).id).toBe(b1.id);
    const jobs = await w.np.jobs.list({ resource: b1.id });
    expect(jobs.items).toHaveLength(1);
    expect((await post('/bridges', { host: 'docker1', name: 'br_idem' })).status).toBe(409);

    await sh(['ovs-vsctl', 'add-br', 'byhand', '--', 'set', 'Bridge', 'byhand', 'datapath_type=netdev']);
    const refused = await post('/bridges', { host: 'docker1', name: 'byhand' });
    expect(refused.status).toBe(409);
    expect((await sh(['ovs-vsctl', 'br-get-external-id', 'byhand', 'netplumb-id'])).stdout.trim()).toBe('');
    const adopted = await post('/bridges', { host: 'docker1', name: 'byhand', adopt: true, addresses: ['10.20.0.1/24'] });
    expect(adopted.status).toBe(201);
    const a = await adopted.json();
    expect(a.adopted).toBe(true);
    expect((await sh(['ovs-vsctl', 'br-get-external-id', 'byhand', 'netplumb-id'])).stdout.trim()).toBe(a.id);
  });

  it('PATCH addresses and MTU → the host converges; observe shows no drift, then drift after a change by hand', async () => {
    const b = await (await post('/bridges', { host: 'docker1', name: 'br_patch', type: 'linux', addresses: ['10.30.0.1/24'] })).json();
    const p = await call('PATCH', `/bridges/${b.id}`, { addresses: ['10.31.0.1/24', 'fd00:31::1/64'], mtu: 1400 });
    expect(p.status).toBe(200);
    const link = JSON.parse((await sh(['ip', '-j', 'addr', 'show', 'dev', 'br_patch'])).stdout)[0];
    expect(link.mtu).toBe(1400);
    const addrs = link.addr_info
      .filter((x: { scope: string }) => x.scope === 'global')
      .map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)
      .sort();
    expect(addrs).toEqual(['10.31.0.1/24', 'fd00:31::1/64']);
    const clean = await (await call('GET', `/bridges/${b.id}?observe=true`)).json();
    expect(clean.observed.exists).toBe(true);
    expect(clean.observed.drift).toEqual([]);
    await sh(['ip', 'addr', 'add', '10.99.0.1/24', 'dev', 'br_patch']);
    await sh(['ip', 'link', 'set', 'dev', 'br_patch', 'mtu', '1300']);
    const drifted = await (await call('GET', `/bridges/${b.id}?observe=true`)).json();
    expect(drifted.observed.drift.map((d: { field: string }) => d.field).sort()).toEqual(['addresses', 'mtu']);
  });

  it('the same plan run twice leaves the host exactly as after once', async () => {
    const hostId = (await w.np.hosts.get('docker1')).id;
    const d: BridgeData = {
      hostId,
      hostName: 'docker1',
      name: 'br_twice',
      type: 'ovs',
      datapathType: 'netdev',
      addresses: ['10.40.0.1/24'],
      mtu: 1450,
      stp: false,
      labels: {},
      overlayMtu: null,
      adopted: false,
    };
    const plan = createBridgePlan('br_twiceid', d, { exists: false, kind: null, owner: null });
    const ex = await hostExecutor(w.deps, hostId);
    const runAll = async () => {
      for (const s of plan.steps) expect((await ex.run(s.argv)).exitCode, s.argv.join(' ')).toBe(0);
    };
    await runAll();
    const once = await hostState();
    await runAll();
    expect(await hostState()).toBe(once);
    await ex.run(['ovs-vsctl', '--if-exists', 'del-br', 'br_twice']);
  });

  it('delete → gone; a port in use → 409; cascade=true → all gone', async () => {
    const b = await (await post('/bridges', { host: 'docker1', name: 'br_del' })).json();
    await sh(['ip', 'link', 'add', 'vdel0', 'type', 'veth', 'peer', 'name', 'vdel1']);
    await sh(['ovs-vsctl', 'add-port', 'br_del', 'vdel0']);
    const busy = await call('DELETE', `/bridges/${b.id}`);
    expect(busy.status).toBe(409);
    expect((await busy.json()).detail).toContain('vdel0');
    expect((await sh(['ovs-vsctl', 'br-exists', 'br_del'])).exitCode).toBe(0);
    const c = await call('DELETE', `/bridges/${b.id}?cascade=true`);
    expect(c.status).toBe(204);
    expect((await sh(['ovs-vsctl', 'br-exists', 'br_del'])).exitCode).toBe(2);
    expect((await call('GET', `/bridges/${b.id}`)).status).toBe(404);
    await sh(['ip', 'link', 'del', 'vdel0']);

    const l = await (await post('/bridges', { host: 'docker1', name: 'br_del2', type: 'linux' })).json();
    expect((await call('DELETE', `/bridges/${l.id}`)).status).toBe(204);
    expect((await sh(['ip', 'link', 'show', 'dev', 'br_del2'])).exitCode).not.toBe(0);
  });

  it('hostile names and addresses → 422, no job, no file created', async () => {
    rmSync('/tmp/x', { force: true });
    const before = (await w.np.jobs.list({ kind: 'bridge.create', limit: 500 })).items.length;
    for (const name of ['br0;touch /tmp/x', '$(id)', '-br', 'a'.repeat(16), 'all', '..', 'a/b']) {
      expect((await post('/bridges', { host: 'docker1', name })).status, name).toBe(422);
    }
    expect((await post('/bridges', { host: 'docker1', name: 'ok', addresses: ['10.0.0.1/24;id'] })).status).toBe(422);
    expect((await w.np.jobs.list({ kind: 'bridge.create', limit: 500 })).items.length).toBe(before);
    expect(existsSync('/tmp/x')).toBe(false);
    expect((await w.sb.exec('docker1', ['test', '-e', '/tmp/x'])).exitCode).not.toBe(0);
  });
});
