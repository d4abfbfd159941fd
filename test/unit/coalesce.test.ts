import { describe, expect, it } from 'vitest';
import { VETH_STATIC, type AttachmentData } from '../../src/model/attachments.js';
import { attachPlan, detachPlan } from '../../src/ops/attachments.js';
import { coalesce } from '../../src/ops/coalesce.js';

const member = (n: number, host = 'host_1'): AttachmentData => ({
  bridgeId: 'br_1',
  bridgeName: 'lab',
  bridgeType: 'ovs',
  datapathType: 'netdev',
  hostId: host,
  hostName: host,
  target: { container: `c${n}` },
  resolved: null,
  ifname: 'eth1',
  hostIfname: `npm${n}`,
  addresses: [`10.0.0.${n}/24`],
  gateway: null,
  routes: [],
  mac: null,
  mtu: null,
  vlan: null,
  txChecksumOffloadOff: false,
  labels: {},
  container: `c${n}`,
  assignedMac: null,
  ...VETH_STATIC,
});
const plan = (ds: AttachmentData[]) =>
  ds.flatMap((d, i) => attachPlan({ id: `att_${i}`, d, ifname: 'eth1', nsPath: `/proc/${100 + i}/ns/net`, nsRef: String(100 + i) }).steps);

describe('coalescing many members on a host', () => {
  it("one ip -batch for the veths and one ovs-vsctl transaction for the ports; each member's inside steps stay its own", () => {
    const steps = coalesce(plan([member(1), member(2), member(3)]));
    expect(steps.map((s) => s.argv.slice(0, 3).join(' '))).toEqual([
      'ip -batch -',
      'ovs-vsctl --timeout=10 --may-exist',
      'nsenter --net=/proc/100/ns/net ip',
      'nsenter --net=/proc/100/ns/net ethtool',
      'nsenter --net=/proc/101/ns/net ip',
      'nsenter --net=/proc/101/ns/net ethtool',
      'nsenter --net=/proc/102/ns/net ip',
      'nsenter --net=/proc/102/ns/net ethtool',
    ]);
    expect(steps[0]!.stdin!.split('\n').filter((l) => l.startsWith('link add'))).toHaveLength(3);
    expect(steps[0]).toMatchObject({
      undo: ['ip', '-force', '-batch', '-'],
      undoStdin: 'link del dev npm1\nlink del dev npm2\nlink del dev npm3\n',
      undoWhenFailed: true,
    });
    expect(steps[1]!.argv.filter((w) => w === 'add-port')).toHaveLength(3);
    expect(steps[1]!.undo!.join(' ')).toBe(
      'ovs-vsctl --timeout=10 --if-exists del-port lab npm1 -- --if-exists del-port lab npm2 -- --if-exists del-port lab npm3',
    );
  });

  it('hosts stay apart; a lone member is left as it was; deletes merge too', () => {
    const steps = coalesce(plan([member(1, 'host_a'), member(2, 'host_b'), member(3, 'host_b')]));
    expect(steps.filter((s) => s.host === 'host_a').map((s) => s.description)).toEqual(
      plan([member(1, 'host_a')]).map((s) => s.description),
    );
    expect(steps.filter((s) => s.host === 'host_b' && s.argv[0] === 'ip')).toHaveLength(1);
    const del = coalesce([member(1), member(2)].flatMap((d) => detachPlan(d, true).steps));
    expect(del.map((s) => [s.argv.join(' '), s.stdin])).toEqual([
      ['ovs-vsctl --timeout=10 --if-exists del-port lab npm1 -- --if-exists del-port lab npm2', undefined],
      ['ip -force -batch -', 'link del dev npm1\nlink del dev npm2\n'],
    ]);
  });
});
