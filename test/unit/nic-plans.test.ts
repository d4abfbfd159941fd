/**
 * The NIC attachment plans (the exact argv is the contract; ipvlan and 802.1Q cannot run on this machine's kernel, so
 * their plans are pinned here), rules and tables, pipework's U: MAC, and the probe's device-type parsing.
 */
import { describe, expect, it } from 'vitest';
import type { AttachmentData, ParentData } from '../../src/model/attachments.js';
import { macFromSeed, ruleSpec, ruleStep, updateAttachmentPlan } from '../../src/ops/attachments.js';
import { parseAttachmentObservation, presentRules } from '../../src/ops/attachment-observe.js';
import { findParent, nicAttachPlan, nicDetachPlan, parseHostLinks, vlanDeviceName } from '../../src/ops/nic-attachments.js';
import { parseDhcpClients, parseLinkTypes } from '../../src/ops/probe.js';

const held = '/run/netplumb/ns/att_1';
const parent: ParentData = { ref: 'eth0', name: 'eth0', mac: '52:54:00:12:34:56', lower: 'eth0', vlanMade: false, mtu: 1500 };
const base: AttachmentData & { parent: ParentData } = {
  type: 'macvlan',
  bridgeId: '',
  bridgeName: '',
  bridgeType: 'linux',
  datapathType: null,
  hostId: 'host_1',
  hostName: 'docker1',
  parent,
  mode: 'bridge',
  target: { container: 'web1' },
  resolved: null,
  ifname: 'eth1',
  hostIfname: '',
  addresses: ['10.88.0.10/24', 'fd00:88::10/64'],
  gateway: null,
  routes: [],
  rules: [],
  mac: null,
  macSeed: null,
  dhcp: null,
  lease: null,
  mtu: null,
  vlan: null,
  txChecksumOffloadOff: false,
  labels: {},
  container: 'web1',
  assignedMac: null,
};
const plan = (d: typeof base, lower = 'eth0', makeVlan = false) =>
  nicAttachPlan({
    id: 'att_1',
    d,
    parentName: 'eth0',
    lower,
    makeVlan,
    ifname: 'eth1',
    nsPath: held,
    original: { mac: '52:54:00:12:34:56', mtu: 1500 },
  }).steps;

describe('NIC attachment plans', () => {
  it('macvlan: made inside the target on the NIC, then marked, IPv6 on for it, addressed (v6 without DAD), up', () => {
    const s = plan(base);
    expect(s.map((x) => x.argv.join(' '))).toEqual([
      'ip -batch -',
      `ip link add link eth0 name eth1 netns ${held} type macvlan mode bridge`,
      `nsenter --net=${held} sh -c echo 0 > "/proc/sys/net/ipv6/conf/$1/disable_ipv6" netplumb-ipv6-on eth1`,
      `nsenter --net=${held} ip -batch -`,
    ]);
    expect(s[0]!.stdin).toBe('link set dev eth0 up\n');
    expect(s[1]!.undo).toEqual(['nsenter', `--net=${held}`, 'ip', 'link', 'del', 'dev', 'eth1']);
    expect(s[3]!.stdin).toBe(
      'link set dev eth1 alias netplumb:att_1\naddr replace 10.88.0.10/24 dev eth1\naddr replace fd00:88::10/64 dev eth1 nodad\nlink set dev eth1 up\n',
    );
  });

  it('ipvlan l3 on a VLAN sub-interface it makes: the VLAN device first (undone by deleting it), no MAC', () => {
    const s = plan({ ...base, type: 'ipvlan', mode: 'l3', vlan: 42, addresses: [] }, 'eth0.42', true);
    expect(s[0]!.stdin).toBe(
      'link add link eth0 name eth0.42 type vlan id 42\nlink set dev eth0.42 alias netplumb-vlan:att_1\nlink set dev eth0 up\nlink set dev eth0.42 up\n',
    );
    expect(s[0]!.undo).toEqual(['ip', 'link', 'del', 'dev', 'eth0.42']);
    expect(s[1]!.argv).toEqual(['ip', 'link', 'add', 'link', 'eth0.42', 'name', 'eth1', 'netns', held, 'type', 'ipvlan', 'mode', 'l3']);
  });

  it("phys: moved in (undone by moving it back to the shell's own namespace), renamed with its MAC, restored on undo", () => {
    const s = plan({ ...base, type: 'phys', mode: null, mac: '02:00:00:00:00:07', addresses: [] });
    expect(s[1]!.argv).toEqual(['ip', 'link', 'set', 'dev', 'eth0', 'netns', held]);
    expect(s[1]!.undo!.join(' ')).toContain('nsenter --net="$1" ip link set dev "$3" netns "$$"');
    expect(s[2]!.stdin).toBe('link set dev eth0 name eth1\nlink set dev eth1 address 02:00:00:00:00:07\n');
    expect(s[2]!.undo!.slice(-5)).toEqual([held, 'eth1', 'eth0', '52:54:00:12:34:56', '']);
  });

  it('delete: a sub-interface is deleted inside; phys goes back under its name with its MAC; a VLAN device it made goes when unused', () => {
    const vlan = { ...base, vlan: 42, parent: { ...parent, lower: 'eth0.42', vlanMade: true } };
    const del = nicDetachPlan(vlan, {
      insideNs: '/proc/9/ns/net',
      insideExists: true,
      lowerExists: true,
      lowerStillUsed: false,
      lowerMadeByUs: false,
      returnedAs: null,
    });
    expect(del.steps.map((x) => x.argv.join(' '))).toEqual([
      'nsenter --net=/proc/9/ns/net ip link del dev eth1',
      'ip link del dev eth0.42',
    ]);
    expect(
      nicDetachPlan(vlan, {
        insideNs: null,
        insideExists: false,
        lowerExists: true,
        lowerStillUsed: true,
        lowerMadeByUs: false,
        returnedAs: null,
      }).steps,
    ).toEqual([]);
    const phys = nicDetachPlan(
      { ...base, type: 'phys', mac: '02:00:00:00:00:07' },
      { insideNs: '/proc/9/ns/net', insideExists: true, lowerExists: false, lowerStillUsed: false, lowerMadeByUs: false, returnedAs: null },
    );
    expect(phys.steps[0]!.argv.slice(-6)).toEqual(['netplumb-nic-return', '/proc/9/ns/net', 'eth1', 'eth0', '52:54:00:12:34:56', '']);
  });

  it('delete also removes the rules inside; a VLAN device marked ours goes with its last user even if another made it; a phys NIC given back under another name is renamed back', () => {
    const withRule = { ...base, rules: [{ priority: 1000, from: '10.88.0.10/32', table: 100 }] };
    const del = nicDetachPlan(withRule, {
      insideNs: '/proc/9/ns/net',
      insideExists: true,
      lowerExists: true,
      lowerStillUsed: false,
      lowerMadeByUs: false,
      returnedAs: null,
    });
    expect(del.steps[0]!.argv.join(' ')).toBe('nsenter --net=/proc/9/ns/net ip -4 rule del priority 1000 from 10.88.0.10/32 table 100');
    const reused = { ...base, vlan: 42, parent: { ...parent, lower: 'eth0.42', vlanMade: false } };
    const last = nicDetachPlan(reused, {
      insideNs: null,
      insideExists: false,
      lowerExists: true,
      lowerStillUsed: false,
      lowerMadeByUs: true,
      returnedAs: null,
    });
    expect(last.steps.map((x) => x.argv.join(' '))).toEqual(['ip link del dev eth0.42']);
    const foreign = nicDetachPlan(reused, {
      insideNs: null,
      insideExists: false,
      lowerExists: true,
      lowerStillUsed: false,
      lowerMadeByUs: false,
      returnedAs: null,
    });
    expect(foreign.steps).toEqual([]);
    const phys = { ...base, type: 'phys' as const, mtu: 1400, parent: { ...parent, lower: 'eth0' } };
    const back = nicDetachPlan(phys, {
      insideNs: null,
      insideExists: false,
      lowerExists: false,
      lowerStillUsed: false,
      lowerMadeByUs: false,
      returnedAs: 'eth1',
    });
    expect(back.steps[0]!.argv.slice(-5)).toEqual(['netplumb-nic-rename-back', 'eth1', 'eth0', '', '1500']);
  });

  it('the NIC by name or by MAC (not a sub-interface sharing it); VLAN names within 15 bytes', () => {
    const links = parseHostLinks(
      JSON.stringify([
        { ifname: 'mv0', address: '52:54:00:12:34:56', linkinfo: { info_kind: 'macvlan' } },
        { ifname: 'eth0', address: '52:54:00:12:34:56', mtu: 1500 },
        { ifname: 'eth0.5', address: '52:54:00:12:34:56', link: 'eth0', linkinfo: { info_kind: 'vlan', info_data: { id: 5 } } },
      ]),
    );
    expect(findParent(links, 'mac:52:54:00:12:34:56')?.name).toBe('eth0');
    expect(findParent(links, 'eth0.5')).toMatchObject({ kind: 'vlan', vlanId: 5, link: 'eth0' });
    expect(findParent(links, 'eth9')).toBeNull();
    expect(vlanDeviceName('eth0', 4094)).toBe('eth0.4094');
    expect(vlanDeviceName('enp0s31f6abcd', 100)).toBeNull();
  });
});

describe('rules and routes in tables', () => {
  it('ip rule words: family from the prefixes, priority, from (all when none), to, fwmark, table', () => {
    expect(ruleSpec({ from: '10.0.0.5/32', table: 100, priority: 1000 })).toEqual([
      '-4',
      'priority',
      '1000',
      'from',
      '10.0.0.5/32',
      'table',
      '100',
    ]);
    expect(ruleSpec({ to: 'fd00::/8', fwmark: 7, table: 'main' })).toEqual([
      '-6',
      'from',
      'all',
      'to',
      'fd00::/8',
      'fwmark',
      '7',
      'table',
      'main',
    ]);
    // Converges: every copy of the rule goes, then one is added.
    const s = ruleStep('h', { fwmark: 3, table: 7 }, '/proc/1/ns/net');
    expect(s.argv.slice(-8)).toEqual(['netplumb-rule', '-4', 'from', 'all', 'fwmark', '3', 'table', '7']);
    expect(s.undo).toEqual(['nsenter', '--net=/proc/1/ns/net', 'ip', '-4', 'rule', 'del', 'from', 'all', 'fwmark', '3', 'table', '7']);
  });

  it('observed rules match the wanted ones (a rule without a priority matches at any priority)', () => {
    const out = {
      rules4: {
        exitCode: 0,
        stdout: JSON.stringify([
          { priority: 0, src: 'all', table: 'local' },
          { priority: 999, src: '10.1.0.0', srclen: 16, fwmark: '0x7', table: '101' },
          { priority: 1000, src: '10.0.0.5', table: '100' },
        ]),
      },
    };
    const d = {
      ...base,
      rules: [
        { from: '10.0.0.5/32', table: 100, priority: 1000 },
        { from: '10.1.0.0/16', fwmark: 7, table: 101 },
        { fwmark: 9, table: 5 },
      ],
    };
    const o = parseAttachmentObservation(d, out);
    expect(presentRules(d, o.inside.rules)).toEqual(['priority 1000 from 10.0.0.5/32 table 100', 'from 10.1.0.0/16 fwmark 7 table 101']);
  });

  it('PATCH: routes in a table and rules as sets — what goes is removed (undo adds it back), what comes is added', () => {
    const prev = {
      ...base,
      routes: [{ to: '10.99.0.0/16', via: '10.88.0.1', table: 100 }],
      rules: [{ from: '10.88.0.10/32', table: 100 }],
    };
    const next = { ...prev, routes: [{ to: '10.99.0.0/16', via: '10.88.0.1', table: 200 }], rules: [] };
    const s = updateAttachmentPlan(prev, next, '/proc/1/ns/net').steps;
    expect(s.map((x) => x.argv.slice(2).join(' '))).toEqual([
      'ip -4 route del 10.99.0.0/16 dev eth1 table 100',
      'ip -4 route replace 10.99.0.0/16 via 10.88.0.1 dev eth1 table 200',
      'ip -4 rule del from 10.88.0.10/32 table 100',
    ]);
    expect(s[2]!.undo!.includes('netplumb-rule')).toBe(true);
  });
});

describe('pipework U: MAC and the probe', () => {
  it('macFromSeed is `echo <seed> | md5sum` → 02 and five bytes (U from `echo U | md5sum` = c03b74ce71…)', () => {
    expect(macFromSeed('U')).toBe('02:c0:3b:74:ce:71');
    expect(macFromSeed('web1')).toBe(macFromSeed('web1'));
    expect(macFromSeed('web1')).not.toBe(macFromSeed('web2'));
  });

  it('device types and DHCP clients parse; a probe that could not run says null', () => {
    expect(parseLinkTypes(0, 'macvlan=1\nipvlan=0\nvlan=0\ndummy=0\ngretap=0\nip6gretap=0\nvxlan=1\n')).toEqual({
      macvlan: true,
      ipvlan: false,
      vlan: false,
      dummy: false,
      gretap: false,
      ip6gretap: false,
      vxlan: true,
    });
    expect(parseLinkTypes(3, '')).toBeNull();
    expect(parseLinkTypes(0, 'macvlan=1\n')).toBeNull();
    expect(parseDhcpClients(0, 'udhcpc\ndhcpcd\n')).toEqual(['udhcpc', 'dhcpcd']);
    expect(parseDhcpClients(0, '')).toEqual([]);
  });
});
