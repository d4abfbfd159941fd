import { describe, expect, it } from 'vitest';
import type { BridgeData } from '../../src/model/bridges.js';
import {
  bridgeDrift,
  createBridgePlan,
  deleteBridgePlan,
  parseBridgeFacts,
  parseObservation,
  updateBridgePlan,
} from '../../src/ops/bridges.js';

const ovs: BridgeData = {
  hostId: 'host_a',
  hostName: 'docker1',
  name: 'ovs_bridge',
  type: 'ovs',
  datapathType: 'netdev',
  addresses: ['10.11.12.1/24'],
  mtu: null,
  stp: false,
  labels: {},
  overlayMtu: null,
  adopted: false,
};
const linux: BridgeData = { ...ovs, name: 'docker0', type: 'linux', datapathType: null, addresses: ['172.17.0.1/16'], mtu: 1500 };
const none = { exists: false, kind: null, owner: null } as const;

describe('bridge plans (the exact argv is the contract)', () => {
  it('OVS: one ovs-vsctl transaction with datapath and mark, then address and up; undo deletes the new bridge', () => {
    const p = createBridgePlan('br_1', ovs, none);
    expect(p.steps.map((s) => s.argv)).toEqual([
      [
        'ovs-vsctl',
        '--timeout=10',
        '--may-exist',
        'add-br',
        'ovs_bridge',
        '--',
        'set',
        'Bridge',
        'ovs_bridge',
        'datapath_type=netdev',
        'external_ids:netplumb-id=br_1',
        'stp_enable=false',
      ],
      ['ip', 'addr', 'replace', '10.11.12.1/24', 'dev', 'ovs_bridge'],
      ['ip', 'link', 'set', 'dev', 'ovs_bridge', 'up'],
    ]);
    expect(p.steps[0]!.undo).toEqual(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'ovs_bridge']);
    expect(p.steps.every((s) => s.host === 'host_a')).toBe(true);
  });

  it('OVS with an MTU sets mtu_request in the same transaction', () => {
    const p = createBridgePlan('br_1', { ...ovs, mtu: 1450 }, none);
    expect(p.steps[0]!.argv.slice(-5)).toEqual(['--', 'set', 'Interface', 'ovs_bridge', 'mtu_request=1450']);
  });

  it('an existing (adopted) OVS bridge is converged and never deleted by an undo', () => {
    const p = createBridgePlan('br_1', { ...ovs, adopted: true }, { exists: true, kind: 'ovs', owner: null });
    expect(p.steps[0]!.undo).toEqual(['ovs-vsctl', '--timeout=10', 'remove', 'Bridge', 'ovs_bridge', 'external_ids', 'netplumb-id']);
  });

  it('Linux: add with STP state, alias mark, MTU, address, up', () => {
    const p = createBridgePlan('br_2', linux, none);
    expect(p.steps.map((s) => s.argv)).toEqual([
      ['ip', 'link', 'add', 'name', 'docker0', 'type', 'bridge', 'stp_state', '0'],
      ['ip', 'link', 'set', 'dev', 'docker0', 'alias', 'netplumb:br_2'],
      ['ip', 'link', 'set', 'dev', 'docker0', 'mtu', '1500'],
      ['ip', 'addr', 'replace', '172.17.0.1/16', 'dev', 'docker0'],
      ['ip', 'link', 'set', 'dev', 'docker0', 'up'],
    ]);
    expect(p.steps[0]!.undo).toEqual(['ip', 'link', 'del', 'dev', 'docker0']);
  });

  it('an existing Linux bridge is not added again (converging plan)', () => {
    const p = createBridgePlan('br_2', linux, { exists: true, kind: 'linux', owner: 'br_2' });
    expect(p.steps[0]!.argv).toEqual(['ip', 'link', 'set', 'dev', 'docker0', 'type', 'bridge', 'stp_state', '0']);
    expect(p.steps.some((s) => s.argv.includes('add'))).toBe(false);
  });

  it('PATCH removes dropped addresses and replaces the rest', () => {
    const p = updateBridgePlan({ ...ovs, addresses: ['10.11.13.1/24'], mtu: 1400 }, ovs);
    expect(p.steps.map((s) => s.argv)).toEqual([
      [
        'ovs-vsctl',
        '--timeout=10',
        'set',
        'Bridge',
        'ovs_bridge',
        'stp_enable=false',
        '--',
        'set',
        'Interface',
        'ovs_bridge',
        'mtu_request=1400',
      ],
      ['ip', 'addr', 'del', '10.11.12.1/24', 'dev', 'ovs_bridge'],
      ['ip', 'addr', 'replace', '10.11.13.1/24', 'dev', 'ovs_bridge'],
      ['ip', 'link', 'set', 'dev', 'ovs_bridge', 'up'],
    ]);
  });

  it('delete: del-br for OVS, ip link del for Linux, nothing when absent', () => {
    expect(deleteBridgePlan(ovs, { exists: true, kind: 'ovs', owner: 'x' }).steps[0]!.argv).toEqual([
      'ovs-vsctl',
      '--timeout=10',
      '--if-exists',
      'del-br',
      'ovs_bridge',
    ]);
    expect(deleteBridgePlan(linux, { exists: true, kind: 'linux', owner: 'x' }).steps[0]!.argv).toEqual([
      'ip',
      'link',
      'del',
      'dev',
      'docker0',
    ]);
    expect(deleteBridgePlan(linux, none).steps).toEqual([]);
  });
});

describe('facts and drift', () => {
  const link = (extra: object) =>
    JSON.stringify([
      {
        ifname: 'docker0',
        flags: ['BROADCAST', 'UP'],
        mtu: 1500,
        addr_info: [
          { family: 'inet', local: '172.17.0.1', prefixlen: 16, scope: 'global' },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
        ...extra,
      },
    ]);

  it('reads ownership from OVS external_ids or a Linux alias', () => {
    expect(
      parseBridgeFacts({ link: { exitCode: 1, stdout: '' }, ovsExists: { exitCode: 2 }, ovsOwner: { exitCode: 1, stdout: '' } }),
    ).toEqual(none);
    expect(
      parseBridgeFacts({ link: { exitCode: 0, stdout: '' }, ovsExists: { exitCode: 0 }, ovsOwner: { exitCode: 0, stdout: 'br_9\n' } }),
    ).toEqual({ exists: true, kind: 'ovs', owner: 'br_9' });
    expect(
      parseBridgeFacts({
        link: { exitCode: 0, stdout: link({ ifalias: 'netplumb:br_2', linkinfo: { info_kind: 'bridge' } }) },
        ovsExists: { exitCode: 2 },
      }),
    ).toEqual({ exists: true, kind: 'linux', owner: 'br_2' });
    expect(
      parseBridgeFacts({ link: { exitCode: 0, stdout: link({ linkinfo: { info_kind: 'veth' } }) }, ovsExists: { exitCode: 127 } }),
    ).toEqual({ exists: true, kind: 'other', owner: null });
  });

  it("drift lists what differs (link-local IPv6 is the kernel's, not drift)", () => {
    const o = parseObservation(linux, {
      link: { exitCode: 0, stdout: link({ ifalias: 'netplumb:br_2' }) },
      ports: { exitCode: 0, stdout: '[]' },
    });
    expect(bridgeDrift('br_2', linux, o)).toEqual([]);
    const changed = parseObservation(linux, {
      link: { exitCode: 0, stdout: link({ ifalias: 'netplumb:br_2', mtu: 1400 }) },
      ports: { exitCode: 0, stdout: '[]' },
    });
    expect(bridgeDrift('br_2', linux, changed)).toEqual([{ field: 'mtu', desired: 1500, actual: 1400 }]);
    expect(bridgeDrift('br_2', linux, { ...o, exists: false })).toEqual([{ field: 'exists', desired: true, actual: false }]);
  });
});

describe('PATCH undo puts the MTU back even when the bridge had none of its own', () => {
  it('OVS clears mtu_request; Linux returns to the live MTU', () => {
    const o = updateBridgePlan({ ...ovs, mtu: 1400 }, ovs);
    expect(o.steps[0]!.undo).toEqual([
      'ovs-vsctl',
      '--timeout=10',
      'set',
      'Bridge',
      'ovs_bridge',
      'stp_enable=false',
      '--',
      'clear',
      'Interface',
      'ovs_bridge',
      'mtu_request',
    ]);
    const l = updateBridgePlan({ ...linux, mtu: 1400 }, { ...linux, mtu: null }, 1500);
    expect(l.steps.find((s) => s.argv.includes('mtu'))!.undo).toEqual(['ip', 'link', 'set', 'dev', 'docker0', 'mtu', '1500']);
  });
});
