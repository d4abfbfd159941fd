/** Issue 18: the overlay MTU over an IPv6 underlay (40-byte outer header) and the kernel check for ip6gretap. */
import { describe, expect, it } from 'vitest';
import { kernelGap } from '../../src/kinds/tunnel-resolve.js';
import type { HostData } from '../../src/model/hosts.js';
import { encapOverhead, linuxAddArgv, overlayMtu } from '../../src/ops/tunnels.js';
import type { TunnelEndpointData } from '../../src/model/tunnels.js';

describe('overlay MTU over IPv6: the same figures as over IPv4 plus 20', () => {
  const cases = [
    { type: 'gre', key: null, v4: 38, v6: 58 },
    { type: 'gre', key: 7, v4: 42, v6: 62 },
    { type: 'vxlan', key: 7, v4: 50, v6: 70 },
    { type: 'geneve', key: null, v4: 58, v6: 78 },
  ] as const;
  it.each(cases)('$type key $key: $v4 over IPv4, $v6 over IPv6', ({ type, key, v4, v6 }) => {
    expect(encapOverhead(type, { ipv6: false, key })).toBe(v4);
    expect(encapOverhead(type, { ipv6: true, key })).toBe(v6);
    expect(overlayMtu(null, type, { ipv6: true, key })).toBe(1500 - v6);
    expect(overlayMtu(9000, type, { ipv6: true, key })).toBe(9000 - v6);
  });
});

describe('Linux ends over IPv6', () => {
  const e: TunnelEndpointData = {
    bridgeId: 'br_a',
    bridgeName: 'lx',
    bridgeType: 'linux',
    datapathType: null,
    hostId: 'host_a',
    hostName: 'a',
    portName: 't0',
    localIp: 'fd00:18:1::101',
    remoteIp: 'fd00:18:2::101',
    overlayMtu: 1430,
  };
  it('vxlan takes IPv6 remote and local; GRE is an ip6gretap device', () => {
    expect(linuxAddArgv({ type: 'vxlan', key: 5, dstPort: null }, e).join(' ')).toBe(
      'ip link add name t0 type vxlan id 5 remote fd00:18:2::101 dstport 4789 local fd00:18:1::101',
    );
    expect(linuxAddArgv({ type: 'gre', key: 5, dstPort: null }, e).join(' ')).toBe(
      'ip link add name t0 type ip6gretap remote fd00:18:2::101 local fd00:18:1::101 key 5 encaplimit none',
    );
  });
});

describe('kernelGap over IPv6', () => {
  const host = (linkTypes: Partial<Record<string, boolean>> | null, gre = true): HostData => ({
    name: 'h1',
    executor: { kind: 'local' },
    tunnelIp: 'fd00:18:1::101',
    docker: null,
    labels: {},
    reconcile: 'auto',
    facts: {
      probedAt: '2026-01-01T00:00:00Z',
      reachable: true,
      kernelModules: { gre, vxlan: true, openvswitch: false },
      linkTypes:
        linkTypes === null
          ? null
          : { macvlan: true, ipvlan: true, vlan: true, dummy: true, gretap: true, ip6gretap: true, vxlan: true, ...linkTypes },
    },
  });
  const linux = { type: 'linux' as const, datapathType: null };
  const netdev = { type: 'ovs' as const, datapathType: 'netdev' as const };

  it('a Linux bridge without ip6gretap cannot take GRE over IPv6, and the answer names it', () => {
    expect(kernelGap('gre', linux, host({ ip6gretap: false }), true)).toMatch(/h1's kernel has no IPv6 GRE support.*ip6gretap/);
    // over IPv4 the same host is fine (gretap is another device type)
    expect(kernelGap('gre', linux, host({ ip6gretap: false }), false)).toBeNull();
    expect(kernelGap('gre', linux, host({}), true)).toBeNull();
    // not known (probe could not tell): not refused here, the kernel will say
    expect(kernelGap('gre', linux, host(null), true)).toBeNull();
  });

  it('no gre module at all: the IPv6 answer still names ip6gretap; VXLAN over IPv6 and OVS userspace GRE are fine', () => {
    expect(kernelGap('gre', linux, host({ ip6gretap: false, gretap: false }, false), true)).toMatch(/ip6gretap/);
    expect(kernelGap('gre', linux, host({ ip6gretap: true }, false), true)).toMatch(/no GRE support.*ip6gretap port/);
    expect(kernelGap('vxlan', linux, host({ ip6gretap: false }), true)).toBeNull();
    expect(kernelGap('gre', netdev, host({ ip6gretap: false }, false), true)).toBeNull();
  });
});
