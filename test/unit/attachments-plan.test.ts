import { describe, expect, it } from 'vitest';
import { VETH_STATIC, type AttachmentData } from '../../src/model/attachments.js';
import { defaultHostIfname } from '../../src/model/attachments.js';
import { attachPlan, detachPlan, gratuitousArp, ipBatch, pickIfname } from '../../src/ops/attachments.js';

const d: AttachmentData = {
  bridgeId: 'br_1',
  bridgeName: 'ovs_bridge',
  bridgeType: 'ovs',
  datapathType: 'netdev',
  hostId: 'host_1',
  hostName: 'docker1',
  target: { container: 'web1' },
  resolved: null,
  ifname: null,
  hostIfname: 'npabcdefabcdef',
  addresses: ['10.11.12.100/24'],
  gateway: null,
  routes: [],
  mac: null,
  mtu: null,
  vlan: null,
  txChecksumOffloadOff: false,
  labels: {},
  container: 'web1',
  assignedMac: null,
  ...VETH_STATIC,
};
const ns = '/proc/4242/ns/net';
const inNs = (...a: string[]) => ['nsenter', `--net=${ns}`, ...a];

describe('attachment plans (the exact argv is the contract)', () => {
  it('OVS, netdev: one ip -batch for the veth (peer inside, mark, up), the port with its id, one nsenter ip -batch inside, tx offload off', () => {
    const p = attachPlan({ id: 'att_1', d, ifname: 'eth1', nsPath: ns, nsRef: '4242' });
    expect(p.steps.map((s) => [s.argv, s.stdin])).toEqual([
      [
        ['ip', '-batch', '-'],
        'link add dev npabcdefabcdef type veth peer name eth1 netns 4242\nlink set dev npabcdefabcdef alias netplumb:att_1\nlink set dev npabcdefabcdef up\n',
      ],
      [
        [
          'ovs-vsctl',
          '--timeout=10',
          '--may-exist',
          'add-port',
          'ovs_bridge',
          'npabcdefabcdef',
          '--',
          'set',
          'Interface',
          'npabcdefabcdef',
          'external_ids:netplumb-id=att_1',
          '--',
          'set',
          'Port',
          'npabcdefabcdef',
          'tag=[]',
        ],
        undefined,
      ],
      [inNs('ip', '-batch', '-'), 'addr replace 10.11.12.100/24 dev eth1\nlink set dev eth1 up\n'],
      [inNs('ethtool', '-K', 'eth1', 'tx', 'off'), undefined],
    ]);
    expect(p.steps[0]!.undo).toEqual(['ip', 'link', 'del', 'dev', 'npabcdefabcdef']);
    expect(p.steps[1]!.undo).toEqual(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovs_bridge', 'npabcdefabcdef']);
  });

  it('MTU, MAC and VLAN go where they belong', () => {
    const p = attachPlan({
      id: 'att_1',
      d: { ...d, mtu: 1462, mac: '02:00:00:00:00:01', vlan: 10 },
      ifname: 'eth1',
      nsPath: ns,
      nsRef: '4242',
    });
    expect(p.steps[0]!.stdin!.split('\n')[0]).toBe(
      'link add dev npabcdefabcdef mtu 1462 type veth peer name eth1 mtu 1462 address 02:00:00:00:00:01 netns 4242',
    );
    expect(p.steps[1]!.argv.slice(-1)).toEqual(['tag=10']);
  });

  it('Linux bridge, system datapath: master in the host batch instead of a port, no ethtool; gateway outside the subnet gets a host route first', () => {
    const lin = {
      ...d,
      bridgeType: 'linux' as const,
      bridgeName: 'docker0',
      datapathType: null,
      addresses: ['172.17.0.100/16'],
      gateway: '172.18.0.1',
      routes: [{ to: '10.20.0.0/16', via: '172.17.0.1' }, { to: 'fd00:20::/64' }],
    };
    const p = attachPlan({ id: 'att_2', d: lin, ifname: 'eth0', nsPath: '/run/netns/blue', nsRef: 'blue' });
    const argv = p.steps.map((s) => s.argv);
    expect(p.steps[0]!.stdin).toContain(' netns blue\n');
    expect(p.steps[0]!.stdin).toContain('link set dev npabcdefabcdef master docker0\n');
    expect(argv.some((a) => a.includes('ethtool') || a.includes('ovs-vsctl'))).toBe(false);
    const b = ['nsenter', '--net=/run/netns/blue'];
    expect(argv.slice(-4)).toEqual([
      [...b, 'ip', '-4', 'route', 'replace', '172.18.0.1/32', 'dev', 'eth0'],
      [...b, 'ip', '-4', 'route', 'replace', 'default', 'via', '172.18.0.1', 'dev', 'eth0'],
      [...b, 'ip', '-4', 'route', 'replace', '10.20.0.0/16', 'via', '172.17.0.1', 'dev', 'eth0'],
      [...b, 'ip', '-6', 'route', 'replace', 'fd00:20::/64', 'dev', 'eth0'],
    ]);
  });

  it('ip -batch input refuses a word that would split or comment out a line', () => {
    expect(() => ipBatch([['link', 'set', 'dev', 'a b', 'up']])).toThrow(TypeError);
    expect(() => ipBatch([['link', 'set', 'dev', 'x#', 'up']])).toThrow(TypeError);
    expect(ipBatch([['link', 'set', 'dev', 'eth1', 'up']])).toBe('link set dev eth1 up\n');
  });

  it('a gateway inside the subnet needs no host route', () => {
    const p = attachPlan({
      id: 'att_3',
      d: { ...d, addresses: ['172.17.0.100/16'], gateway: '172.17.0.1' },
      ifname: 'eth0',
      nsPath: ns,
      nsRef: '4242',
    });
    expect(p.steps.filter((s) => s.argv.includes('route'))).toHaveLength(1);
  });

  it('names: eth1 or the next free ethN; host end from the id, 15 bytes at most', () => {
    expect(pickIfname(['lo'])).toBe('eth1');
    expect(pickIfname(['lo', 'eth1', 'eth2'])).toBe('eth3');
    expect(defaultHostIfname('att_01kb2xk3a7wqp4fmz3hyd2n6')).toBe('npp4fmz3hyd2n6');
    expect(defaultHostIfname('att_01kb2xk3a7wqp4fmz3hyd2n6').length).toBeLessThanOrEqual(15);
  });

  it('detach: del-port and the host end (which takes the inside end along); ARP only for IPv4', () => {
    expect(detachPlan(d, true).steps.map((s) => s.argv)).toEqual([
      ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovs_bridge', 'npabcdefabcdef'],
      ['ip', 'link', 'del', 'dev', 'npabcdefabcdef'],
    ]);
    expect(detachPlan(d, false).steps).toHaveLength(1);
    expect(gratuitousArp({ ...d, addresses: ['10.0.0.1/24', 'fd00::1/64'] }, 'eth1', ns)).toEqual([
      inNs('timeout', '0.2', 'arping', '-q', '-U', '-c', '1', '-I', 'eth1', '10.0.0.1'),
    ]);
  });
});
