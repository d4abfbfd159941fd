import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { VETH_STATIC, type AttachmentData } from '../../src/model/attachments.js';
import { attachmentDrift, desiredRoutes, parseAttachmentObservation } from '../../src/ops/attachment-observe.js';
import { memberDrift, type ObservedBridge } from '../../src/ops/bridges.js';
import { parseMarkedObjects, removeOrphansPlan } from '../../src/ops/orphans.js';
import { DockerEventWatcher, type ContainerEvent } from '../../src/reconcile/docker-events.js';

const d: AttachmentData = {
  bridgeId: 'br_1',
  bridgeName: 'ovs_bridge',
  bridgeType: 'ovs',
  datapathType: 'netdev',
  hostId: 'host_1',
  hostName: 'docker1',
  target: { container: 'web1' },
  resolved: null,
  ifname: 'eth1',
  hostIfname: 'npabc',
  addresses: ['10.11.12.100/24'],
  gateway: '172.17.0.1',
  routes: [{ to: '10.20.0.0/16', via: '10.11.12.1' }],
  mac: null,
  mtu: 1462,
  vlan: 10,
  txChecksumOffloadOff: true,
  labels: {},
  container: 'web1',
  assignedMac: '02:00:00:00:00:01',
  ...VETH_STATIC,
};

const ok = (stdout: unknown) => ({ exitCode: 0, stdout: typeof stdout === 'string' ? stdout : JSON.stringify(stdout) });
const ovsTable = (headings: string[], rows: unknown[][]) => ok({ headings, data: rows });

function outs(inside: Record<string, unknown> = {}) {
  return {
    hostEnd: ok([{ ifindex: 7, ifname: 'npabc', flags: ['UP'], mtu: 1462, operstate: 'UP', ifalias: 'netplumb:att_1' }]),
    port: ovsTable(['name', 'tag', 'external_ids'], [['npabc', 10, ['map', []]]]),
    iface: ovsTable(
      ['name', 'external_ids', 'error', 'ofport', 'link_state'],
      [['npabc', ['map', [['netplumb-id', 'att_1']]], ['set', []], 3, 'up']],
    ),
    portBridge: ok('ovs_bridge\n'),
    inside: ok([
      {
        ifname: 'eth1',
        link_index: 7,
        flags: ['UP'],
        mtu: 1462,
        address: '02:00:00:00:00:01',
        addr_info: [
          { local: '10.11.12.100', prefixlen: 24, scope: 'global' },
          { local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
        ...inside,
      },
    ]),
    routes4: ok([
      { dst: '172.17.0.1' },
      { dst: 'default', gateway: '172.17.0.1' },
      { dst: '10.20.0.0/16', gateway: '10.11.12.1' },
      { dst: '10.11.12.0/24' },
    ]),
  };
}

describe('attachment observation', () => {
  it('a whole pair as recorded has no drift', () => {
    const o = parseAttachmentObservation(d, outs());
    expect(o.inside).toMatchObject({ exists: true, paired: true, mac: '02:00:00:00:00:01', addresses: ['10.11.12.100/24'] });
    expect(o.hostEnd).toMatchObject({ exists: true, owner: 'att_1', bridge: 'ovs_bridge', vlan: 10, operstate: 'up', error: null });
    expect(attachmentDrift('att_1', d, o, d.assignedMac)).toEqual([]);
    expect(desiredRoutes(d)).toEqual(['172.17.0.1/32', 'default via 172.17.0.1', '10.20.0.0/16 via 10.11.12.1']);
  });

  it('an inner end that is not the host end’s peer, another MAC, a lost address and route are each drift', () => {
    const o = parseAttachmentObservation(d, { ...outs({ link_index: 99, address: '02:aa:00:00:00:01', addr_info: [] }), routes4: ok([]) });
    expect(attachmentDrift('att_1', d, o, d.assignedMac).map((x) => x.field)).toEqual(['paired', 'addresses', 'mac', 'routes']);
  });

  it('the host end gone (a container restart): hostEnd and inside missing, the stale OVS port still names its bridge', () => {
    const o = parseAttachmentObservation(d, { ...outs(), hostEnd: { exitCode: 1, stdout: '' }, inside: { exitCode: 1, stdout: '' } });
    expect(o.hostEnd.bridge).toBe('ovs_bridge');
    expect(attachmentDrift('att_1', d, o, d.assignedMac).map((x) => x.field)).toEqual(['hostEnd', 'inside']);
  });

  it("a bridge's member ports: missing, someone else's, or without a device are drift", () => {
    const o: ObservedBridge = {
      exists: true,
      up: true,
      addresses: [],
      mtu: 1500,
      datapathType: 'netdev',
      owner: 'br_1',
      ports: [
        { name: 'gre0', owner: 'tun_1', type: 'gre', error: null },
        { name: 'npabc', owner: 'att_1', type: '', error: 'could not open network device npabc (No such device)' },
        { name: 'npx', owner: 'att_9', type: '', error: null },
      ],
    };
    expect(
      memberDrift(o, [
        { name: 'gre0', owner: 'tun_1' },
        { name: 'npabc', owner: 'att_1' },
        { name: 'npx', owner: 'att_2' },
        { name: 'vx0', owner: 'tun_2' },
      ]),
    ).toEqual([
      { field: 'port:npabc:error', desired: null, actual: 'could not open network device npabc (No such device)' },
      { field: 'port:npx', desired: 'att_2', actual: 'att_9' },
      { field: 'port:vx0', desired: 'tun_2', actual: null },
    ]);
  });
});

describe('Docker events', () => {
  it('container start/die/stop are reported; the stream ending reconnects (and says so)', async () => {
    const streams: PassThrough[] = [];
    const docker = { getEvents: async () => streams[streams.push(new PassThrough()) - 1] } as unknown as Dockerode;
    const events: ContainerEvent[] = [];
    let connects = 0;
    const w = new DockerEventWatcher({
      docker: () => Promise.resolve(docker),
      onEvent: (e) => events.push(e),
      onConnect: () => connects++,
      log: () => {},
      minBackoffMs: 5,
    });
    w.start();
    await new Promise((r) => setTimeout(r, 10));
    const line = (o: unknown) => streams[0]!.write(`${JSON.stringify(o)}\n`);
    line({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: { name: 'web1' } } });
    line({ Type: 'container', Action: 'exec_start: sh', Actor: { ID: 'abc', Attributes: { name: 'web1' } } });
    line({ Type: 'network', Action: 'start', Actor: { ID: 'n1' } });
    streams[0]!.write('{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"web1"}}}');
    streams[0]!.write('\n');
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([
      { action: 'die', id: 'abc', name: 'web1' },
      { action: 'start', id: 'abc', name: 'web1' },
    ]);
    streams[0]!.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(streams.length).toBe(2);
    expect(connects).toBe(2);
    w.stop();
  });
});

describe('orphans', () => {
  it('marked objects are found in OVS and Linux; removal skips names that could read as options', () => {
    const table = (rows: [string, Record<string, string>][]) =>
      JSON.stringify({ headings: ['name', 'external_ids'], data: rows.map(([n, m]) => [n, ['map', Object.entries(m)]]) });
    const found = parseMarkedObjects({
      bridges: {
        exitCode: 0,
        stdout: table([
          ['br0', { 'netplumb-id': 'br_1' }],
          ['plain', {}],
        ]),
      },
      ifaces: {
        exitCode: 0,
        stdout: table([
          ['br0', {}],
          ['gre0', { 'netplumb-id': 'tun_1' }],
        ]),
      },
      links: { exitCode: 0, stdout: JSON.stringify([{ ifname: '-x', ifalias: 'netplumb:att_1' }, { ifname: 'eth0' }]) },
    });
    expect(found).toEqual([
      { kind: 'ovs-bridge', name: 'br0', owner: 'br_1' },
      { kind: 'ovs-port', name: 'gre0', owner: 'tun_1' },
      { kind: 'link', name: '-x', owner: 'att_1' },
    ]);
    expect(removeOrphansPlan('host_1', found).map((s) => s.argv.join(' '))).toEqual([
      'ovs-vsctl --timeout=10 --if-exists del-port gre0',
      'ovs-vsctl --timeout=10 --if-exists del-br br0',
    ]);
  });
});
