import { describe, expect, it } from 'vitest';
import { defaultPortName, TunnelCreateSchema, type TunnelData, type TunnelEndpointData } from '../../src/model/tunnels.js';
import {
  createTunnelPlan,
  deleteTunnelPlan,
  encapOverhead,
  endCommands,
  endDrift,
  endSteps,
  overlayMtu,
  parseEnd,
} from '../../src/ops/tunnels.js';

const V = ['ovs-vsctl', '--timeout=10'];
const end = (over: Partial<TunnelEndpointData>): TunnelEndpointData => ({
  bridgeId: 'br_a',
  bridgeName: 'ovs_bridge',
  bridgeType: 'ovs',
  datapathType: 'netdev',
  hostId: 'host_a',
  hostName: 'docker1',
  portName: 'gre-docker3',
  localIp: '10.10.10.101',
  remoteIp: '192.168.50.101',
  overlayMtu: 1462,
  ...over,
});
const a = end({});
const b = end({
  bridgeId: 'br_b',
  hostId: 'host_b',
  hostName: 'docker3',
  portName: 'gre-docker1',
  localIp: '192.168.50.101',
  remoteIp: '10.10.10.101',
});
const tun = (over: Partial<TunnelData>): TunnelData => ({
  type: 'gre',
  key: null,
  dstPort: null,
  endpoints: [a, b],
  overlayMtu: 1462,
  labels: {},
  ...over,
});
const fresh = [
  { exists: false, owner: null },
  { exists: false, owner: null },
] as [{ exists: boolean; owner: string | null }, { exists: boolean; owner: string | null }];

describe('tunnel plans (the exact argv is the contract)', () => {
  it('OVS GRE: one transaction per end, add-port + explicit set (converges), remote = the other host; undo del-port', () => {
    const p = createTunnelPlan('tun_1', tun({}), fresh);
    expect(p.steps.map((s) => [s.host, s.argv])).toEqual([
      [
        'host_a',
        [
          ...V,
          '--may-exist',
          'add-port',
          'ovs_bridge',
          'gre-docker3',
          '--',
          'set',
          'Interface',
          'gre-docker3',
          'type=gre',
          'options:remote_ip=192.168.50.101',
          'external_ids:netplumb-id=tun_1',
        ],
      ],
      [
        'host_b',
        [
          ...V,
          '--may-exist',
          'add-port',
          'ovs_bridge',
          'gre-docker1',
          '--',
          'set',
          'Interface',
          'gre-docker1',
          'type=gre',
          'options:remote_ip=10.10.10.101',
          'external_ids:netplumb-id=tun_1',
        ],
      ],
    ]);
    expect(p.steps.map((s) => s.undo)).toEqual([
      [...V, '--if-exists', 'del-port', 'ovs_bridge', 'gre-docker3'],
      [...V, '--if-exists', 'del-port', 'ovs_bridge', 'gre-docker1'],
    ]);
  });

  it('OVS GRE with a key, VXLAN with VNI and port, Geneve', () => {
    expect(createTunnelPlan('tun_1', tun({ key: 4000000000 }), fresh).steps[0]!.argv.slice(-3)).toEqual([
      'options:remote_ip=192.168.50.101',
      'options:key=4000000000',
      'external_ids:netplumb-id=tun_1',
    ]);
    const vx = createTunnelPlan(
      'tun_2',
      tun({ type: 'vxlan', key: 42, dstPort: 4790, endpoints: [{ ...a, portName: 'vxlan-docker3' }, b] }),
      fresh,
    );
    expect(vx.steps[0]!.argv).toEqual([
      ...V,
      '--may-exist',
      'add-port',
      'ovs_bridge',
      'vxlan-docker3',
      '--',
      'set',
      'Interface',
      'vxlan-docker3',
      'type=vxlan',
      'options:remote_ip=192.168.50.101',
      'options:key=42',
      'options:dst_port=4790',
      'external_ids:netplumb-id=tun_2',
    ]);
    const gn = createTunnelPlan('tun_3', tun({ type: 'geneve', key: 7 }), fresh);
    expect(gn.steps[1]!.argv.slice(10)).toEqual([
      'type=geneve',
      'options:remote_ip=10.10.10.101',
      'options:key=7',
      'external_ids:netplumb-id=tun_3',
    ]);
  });

  it('Linux VXLAN end: device with VNI, remote, IANA port, local; mark, into the bridge, up; undo deletes the device', () => {
    const lin = end({ bridgeType: 'linux', datapathType: null, bridgeName: 'br_lx', portName: 'vxlan-docker3' });
    const p = createTunnelPlan('tun_4', tun({ type: 'vxlan', key: 100, endpoints: [lin, b] }), fresh);
    expect(p.steps.map((s) => s.argv)).toEqual([
      [
        'ip',
        'link',
        'add',
        'name',
        'vxlan-docker3',
        'type',
        'vxlan',
        'id',
        '100',
        'remote',
        '192.168.50.101',
        'dstport',
        '4789',
        'local',
        '10.10.10.101',
      ],
      ['ip', 'link', 'set', 'dev', 'vxlan-docker3', 'alias', 'netplumb:tun_4'],
      ['ip', 'link', 'set', 'dev', 'vxlan-docker3', 'master', 'br_lx'],
      ['ip', 'link', 'set', 'dev', 'vxlan-docker3', 'up'],
      [
        ...V,
        '--may-exist',
        'add-port',
        'ovs_bridge',
        'gre-docker1',
        '--',
        'set',
        'Interface',
        'gre-docker1',
        'type=vxlan',
        'options:remote_ip=10.10.10.101',
        'options:key=100',
        'external_ids:netplumb-id=tun_4',
      ],
    ]);
    expect(p.steps[0]!.undo).toEqual(['ip', 'link', 'del', 'dev', 'vxlan-docker3']);
    expect(p.steps.slice(1, 4).every((s) => !s.undo)).toBe(true);
    // one plan for both hosts, end 0 first: the runner's reverse undo takes end 0 back when end 1 fails
    expect(p.steps.map((s) => s.host)).toEqual(['host_a', 'host_a', 'host_a', 'host_a', 'host_b']);
  });

  it('Linux geneve (VNI 0 by default, port 6081) and gretap (key 0 = no key; IPv6 → ip6gretap)', () => {
    const lin = end({ bridgeType: 'linux', datapathType: null, bridgeName: 'br_lx', portName: 't0' });
    expect(createTunnelPlan('tun_5', tun({ type: 'geneve', endpoints: [lin, b] }), fresh).steps[0]!.argv).toEqual([
      'ip',
      'link',
      'add',
      'name',
      't0',
      'type',
      'geneve',
      'id',
      '0',
      'remote',
      '192.168.50.101',
      'dstport',
      '6081',
    ]);
    expect(createTunnelPlan('tun_6', tun({ key: 0, endpoints: [lin, b] }), fresh).steps[0]!.argv).toEqual([
      'ip',
      'link',
      'add',
      'name',
      't0',
      'type',
      'gretap',
      'remote',
      '192.168.50.101',
      'local',
      '10.10.10.101',
    ]);
    expect(
      createTunnelPlan('tun_6', tun({ key: 9, endpoints: [{ ...lin, remoteIp: 'fd00::2', localIp: 'fd00::1' }, b] }), fresh).steps[0]!.argv,
    ).toEqual([
      'ip',
      'link',
      'add',
      'name',
      't0',
      'type',
      'ip6gretap',
      'remote',
      'fd00::2',
      'local',
      'fd00::1',
      'key',
      '9',
      'encaplimit',
      'none',
    ]);
  });

  it('an end that is already ours is converged, never deleted by an undo', () => {
    const lin = end({ bridgeType: 'linux', datapathType: null, bridgeName: 'br_lx', portName: 't0' });
    const p = createTunnelPlan('tun_7', tun({ type: 'vxlan', endpoints: [lin, b] }), [
      { exists: true, owner: 'tun_7' },
      { exists: true, owner: 'tun_7' },
    ]);
    expect(p.steps.some((s) => s.argv.includes('add') && s.argv[0] === 'ip')).toBe(false);
    expect(p.steps.every((s) => !s.undo)).toBe(true);
  });

  it('delete: only ends that are there and carry this id', () => {
    const lin = end({ bridgeType: 'linux', datapathType: null, bridgeName: 'br_lx', portName: 't0' });
    const d = tun({ type: 'vxlan', endpoints: [a, { ...lin, hostId: 'host_b' }] });
    expect(
      deleteTunnelPlan('tun_8', d, [
        { exists: true, owner: 'tun_8' },
        { exists: true, owner: 'tun_8' },
      ]).steps.map((s) => [s.host, s.argv]),
    ).toEqual([
      ['host_a', [...V, '--if-exists', 'del-port', 'ovs_bridge', 'gre-docker3']],
      ['host_b', ['ip', 'link', 'del', 'dev', 't0']],
    ]);
    expect(
      deleteTunnelPlan('tun_8', d, [
        { exists: false, owner: null },
        { exists: true, owner: 'att_x' },
      ]).steps,
    ).toEqual([]);
  });
});

describe('default port names', () => {
  it('type + other host, ≤ 15 bytes, a suffix when taken', () => {
    expect(defaultPortName('gre', 'docker3', new Set())).toBe('gre-docker3');
    expect(defaultPortName('geneve', 'a-very-long-host-name', new Set())).toBe('geneve-a-very-l');
    expect(defaultPortName('gre', 'docker3', new Set(['gre-docker3']))).toBe('gre-docker3-2');
    expect(defaultPortName('geneve', 'a-very-long-host-name', new Set(['geneve-a-very-l', 'geneve-a-very-2']))).toBe('geneve-a-very-3');
    for (const n of [
      defaultPortName('vxlan', 'x'.repeat(63), new Set()),
      defaultPortName('vxlan', 'x'.repeat(63), new Set(['vxlan-xxxxxxxxx'])),
    ]) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(15);
    }
  });
});

describe('MTU math', () => {
  it('overheads: GRE 38 (42 with a key), VXLAN 50, Geneve 58, +20 over IPv6', () => {
    expect(encapOverhead('gre', { ipv6: false, key: null })).toBe(38);
    expect(encapOverhead('gre', { ipv6: false, key: 0 })).toBe(38);
    expect(encapOverhead('gre', { ipv6: false, key: 5 })).toBe(42);
    expect(encapOverhead('vxlan', { ipv6: false, key: 5 })).toBe(50);
    expect(encapOverhead('geneve', { ipv6: false, key: null })).toBe(58);
    expect(encapOverhead('vxlan', { ipv6: true, key: null })).toBe(70);
  });

  it('bridge MTU (1500 when unset) minus the overhead', () => {
    expect(overlayMtu(null, 'gre', { ipv6: false, key: null })).toBe(1462);
    expect(overlayMtu(null, 'vxlan', { ipv6: false, key: 1 })).toBe(1450);
    expect(overlayMtu(9000, 'geneve', { ipv6: false, key: 1 })).toBe(8942);
  });
});

describe('request validation', () => {
  const ep = [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }];
  const issues = (body: unknown) => {
    const r = TunnelCreateSchema.safeParse(body);
    return r.success ? [] : r.error.issues.map((i) => '/' + i.path.join('/'));
  };
  it('key ranges per type; dstPort only for UDP tunnels; two endpoints; port names', () => {
    expect(issues({ type: 'gre', endpoints: ep, key: 2 ** 32 - 1 })).toEqual([]);
    expect(issues({ type: 'gre', endpoints: ep, key: 2 ** 32 })).toEqual(['/key']);
    expect(issues({ type: 'vxlan', endpoints: ep, key: 2 ** 24 - 1, dstPort: 65535 })).toEqual([]);
    expect(issues({ type: 'vxlan', endpoints: ep, key: 2 ** 24 })).toEqual(['/key']);
    expect(issues({ type: 'geneve', endpoints: ep, key: -1 })).toEqual(['/key']);
    expect(issues({ type: 'gre', endpoints: ep, dstPort: 4789 })).toEqual(['/dstPort']);
    expect(issues({ type: 'vxlan', endpoints: ep, dstPort: 0 })).toEqual(['/dstPort']);
    expect(issues({ type: 'gre', endpoints: [ep[0]] })).toEqual(['/endpoints']);
    expect(issues({ type: 'gre', endpoints: [ep[0], { bridge: 'docker3/ovs_bridge', portName: '-x' }] })).toEqual([
      '/endpoints/1/portName',
    ]);
    expect(issues({ type: 'gre', endpoints: [ep[0], { bridge: 'docker3/ovs_bridge', portName: 'a'.repeat(16) }] })).toEqual([
      '/endpoints/1/portName',
    ]);
    expect(issues({ type: 'ipip', endpoints: ep })).toEqual(['/type']);
  });
});

describe('reading an end back', () => {
  it('OVS row: options, error, ofport, link_state; empty sets are null', () => {
    const row = (ofport: unknown, error: unknown) =>
      JSON.stringify({
        headings: ['name', 'type', 'options', 'error', 'ofport', 'link_state', 'admin_state', 'mtu', 'external_ids'],
        data: [
          [
            'gre-docker3',
            'gre',
            ['map', [['remote_ip', '192.168.50.101']]],
            error,
            ofport,
            'up',
            'up',
            ['set', []],
            ['map', [['netplumb-id', 'tun_1']]],
          ],
        ],
      });
    const ok = parseEnd(a, { iface: { exitCode: 0, stdout: row(3, ['set', []]) }, bridge: { exitCode: 0, stdout: 'ovs_bridge\n' } });
    expect(ok).toMatchObject({
      exists: true,
      owner: 'tun_1',
      bridge: 'ovs_bridge',
      kind: 'gre',
      options: { remote_ip: '192.168.50.101' },
      ofport: 3,
      error: null,
      linkState: 'up',
      up: true,
      mtu: null,
    });
    expect(endDrift('tun_1', tun({}), a, ok)).toEqual([]);
    const bad = parseEnd(a, {
      iface: { exitCode: 0, stdout: row(-1, 'could not add network device') },
      bridge: { exitCode: 0, stdout: 'ovs_bridge' },
    });
    expect(bad).toMatchObject({ ofport: -1, error: 'could not add network device' });
    expect(
      parseEnd(a, { iface: { exitCode: 0, stdout: JSON.stringify({ headings: ['name'], data: [] }) }, bridge: { exitCode: 1, stdout: '' } })
        .exists,
    ).toBe(false);
    expect(endCommands(a)).toEqual({
      iface: [
        ...V,
        '--format=json',
        '--columns=name,type,options,error,ofport,link_state,admin_state,mtu,external_ids',
        'find',
        'Interface',
        'name=gre-docker3',
      ],
      bridge: [...V, 'port-to-br', 'gre-docker3'],
    });
  });

  it('Linux device from ip -j -d link show, and drift', () => {
    const lin = end({ bridgeType: 'linux', datapathType: null, bridgeName: 'br_lx', portName: 'vxlan-docker3' });
    const json = JSON.stringify([
      {
        ifname: 'vxlan-docker3',
        flags: ['BROADCAST', 'UP'],
        mtu: 1500,
        operstate: 'UNKNOWN',
        master: 'br_lx',
        ifalias: 'netplumb:tun_4',
        linkinfo: { info_kind: 'vxlan', info_data: { id: 100, remote: '192.168.50.101', local: '10.10.10.101', port: 4789 } },
      },
    ]);
    const o = parseEnd(lin, { link: { exitCode: 0, stdout: json } });
    expect(o).toMatchObject({
      exists: true,
      owner: 'tun_4',
      bridge: 'br_lx',
      kind: 'vxlan',
      options: { remote_ip: '192.168.50.101', local_ip: '10.10.10.101', key: '100', dst_port: '4789' },
      linkState: 'unknown',
      up: true,
    });
    const d = tun({ type: 'vxlan', key: 100, endpoints: [lin, b] });
    expect(endDrift('tun_4', d, lin, o)).toEqual([]);
    expect(endDrift('tun_4', { ...d, key: 101 }, lin, o)).toEqual([{ field: 'key', desired: '101', actual: '100' }]);
    expect(endDrift('tun_4', d, lin, parseEnd(lin, { link: { exitCode: 1, stdout: '' } }))).toEqual([
      { field: 'exists', desired: true, actual: false },
    ]);
    // A device down is drift, unless the cable is pulled on purpose (link: down); repair then keeps it down.
    expect(endDrift('tun_4', d, lin, { ...o, up: false })).toEqual([{ field: 'up', desired: true, actual: false }]);
    expect(endDrift('tun_4', { ...d, link: 'down' }, lin, { ...o, up: false })).toEqual([]);
    const remade = endSteps('tun_4', { ...d, link: 'down' }, lin, { exists: false, owner: null }).map((x) => x.argv.join(' '));
    expect(remade.at(-1)).toBe(`ip link set dev ${lin.portName} down`);
    expect(endSteps('tun_4', d, lin, { exists: false, owner: null }).at(-1)!.argv.join(' ')).toBe(`ip link set dev ${lin.portName} up`);
  });
});
