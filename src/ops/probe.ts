/** What a host probe runs, and how its output becomes facts. Read-only commands. */
export const probeCommands = {
  kernel: ['uname', '-r'],
  iproute2: ['ip', '-V'],
  ovsVersion: ['ovs-vsctl', '--version'],
  datapathTypes: ['ovs-vsctl', '--timeout=5', 'get', 'Open_vSwitch', '.', 'datapath_types'],
  ethtool: ['ethtool', '--version'],
  /** Changes at every boot: the reconcile loop repairs a host that booted again. */
  bootId: ['cat', '/proc/sys/kernel/random/boot_id'],
} as const;

export const KERNEL_MODULES = ['gre', 'vxlan', 'openvswitch'] as const;

/** Loaded (or built in with a /sys entry) or loadable: either way the kernel offers it. */
export function moduleProbe(mod: (typeof KERNEL_MODULES)[number]): string[] {
  return ['sh', '-c', 'test -d "/sys/module/$1" || modinfo "$1" >/dev/null 2>&1', 'probe', mod];
}

export function parseIproute2(out: string): string | undefined {
  return /iproute2-([\w.-]+)/.exec(out)?.[1] ?? /ip utility, ([^,\s]+)/.exec(out)?.[1];
}

export function parseOvsVersion(out: string): string | undefined {
  return /Open vSwitch\)\s+(\S+)/.exec(out)?.[1];
}

/** `[netdev, system]` → ['netdev', 'system'] */
export function parseOvsList(out: string): string[] {
  const m = /^\s*\[(.*)\]\s*$/.exec(out.trim());
  if (!m) return [];
  return m[1]!
    .split(',')
    .map((s) => s.trim().replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/**
 * What traffic control can do here, tried for real in a throwaway network namespace (`unshare -n`: it vanishes with
 * the shell, nothing to clean up, the host's own namespace untouched): a veth pair, then each qdisc, classifier,
 * action and nftables/iptables feature once. Modules load on demand as they would for a real plan, and built-in
 * features have no /sys/module entry to look at, so trying is the reliable test. About 50 ms, one command.
 */
export const TRAFFIC_CONTROL_SCRIPT = [
  'ip link add npprobe0 type veth peer name npprobe1 >/dev/null 2>&1 || exit 3',
  'ip link set npprobe0 up >/dev/null 2>&1',
  't() { if "$@" >/dev/null 2>&1; then echo "$k=1"; else echo "$k=0"; fi; }',
  'k=netem; t tc qdisc add dev npprobe0 root handle 1: netem delay 1ms',
  'tc qdisc del dev npprobe0 root >/dev/null 2>&1',
  'k=tbf; t tc qdisc add dev npprobe0 root handle 1: tbf rate 1mbit burst 16000 latency 50ms',
  'tc qdisc del dev npprobe0 root >/dev/null 2>&1',
  'k=htb; t tc qdisc add dev npprobe0 root handle 1: htb default 1',
  'k=ingress; t tc qdisc add dev npprobe0 handle ffff: ingress',
  'k=ifb; t ip link add npprobe2 type ifb',
  'k=u32; t tc filter add dev npprobe0 parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1',
  'k=mirred; t tc filter add dev npprobe0 parent ffff: protocol all prio 2 u32 match u32 0 0 action mirred egress redirect dev npprobe1',
  'k=bpf; t tc filter add dev npprobe0 parent ffff: protocol all prio 3 bpf bytecode "4,32 0 0 4294963256,53 1 0 1,6 0 0 4294967295,6 0 0 0"',
  "k=nftNumgen; t nft add table inet npprobe '{ chain o { type filter hook output priority 0; numgen random mod 100 < 1 drop; }; }'",
  "k=nftLimit; t nft add table inet npprobe2 '{ chain o { type filter hook output priority 0; limit rate over 1 mbytes/second drop; }; }'",
  'k=nftNetdevHooks; t nft add table netdev npprobe \'{ chain i { type filter hook ingress device "npprobe0" priority 0; }; chain e { type filter hook egress device "npprobe0" priority 0; }; }\'',
  'k=iptablesStatistic; t iptables -w -A OUTPUT -m statistic --mode random --probability 0.01 -j DROP',
].join('\n');

export const trafficControlProbe: readonly string[] = ['unshare', '-n', 'sh', '-c', TRAFFIC_CONTROL_SCRIPT];

const TC_KEYS = [
  'netem',
  'tbf',
  'htb',
  'ingress',
  'ifb',
  'u32',
  'mirred',
  'bpf',
  'nftNumgen',
  'nftLimit',
  'nftNetdevHooks',
  'iptablesStatistic',
] as const;

/** `netem=0\ntbf=1…` → facts; null when the probe could not run (no unshare, not root) or said too little. */
export function parseTrafficControl(exitCode: number, out: string): Record<(typeof TC_KEYS)[number], boolean> | null {
  return parseFlags(TC_KEYS, exitCode, out);
}

/**
 * Which device types the kernel can make, tried for real in a throwaway namespace as the traffic-control probe does
 * (a module that is not loaded loads on demand, as it would for the real request): macvlan, ipvlan, 802.1Q vlan and
 * dummy on a veth stand-in, and the IPv6 GRE devices a Linux-bridge tunnel over an IPv6 underlay needs.
 */
export const LINK_TYPES_SCRIPT = [
  'ip link add npprobe0 type veth peer name npprobe1 >/dev/null 2>&1 || exit 3',
  't() { if "$@" >/dev/null 2>&1; then echo "$k=1"; else echo "$k=0"; fi; }',
  'k=macvlan; t ip link add link npprobe0 name npprobe2 type macvlan mode bridge',
  'k=ipvlan; t ip link add link npprobe0 name npprobe3 type ipvlan mode l2',
  'k=vlan; t ip link add link npprobe0 name npprobe4 type vlan id 2',
  'k=dummy; t ip link add npprobe5 type dummy',
  'k=gretap; t ip link add npprobe6 type gretap local 127.0.0.1 remote 127.0.0.2',
  'k=ip6gretap; t ip link add npprobe7 type ip6gretap local ::1 remote ::2',
  'k=vxlan; t ip link add npprobe8 type vxlan id 1 dstport 4789 local 127.0.0.1 remote 127.0.0.2',
].join('\n');

export const linkTypesProbe: readonly string[] = ['unshare', '-n', 'sh', '-c', LINK_TYPES_SCRIPT];

export const LINK_TYPES = ['macvlan', 'ipvlan', 'vlan', 'dummy', 'gretap', 'ip6gretap', 'vxlan'] as const;
export type LinkTypeFacts = Record<(typeof LINK_TYPES)[number], boolean>;

/** `macvlan=1\nipvlan=0…` → facts; null when the probe could not run or said too little. */
export function parseLinkTypes(exitCode: number, out: string): LinkTypeFacts | null {
  return parseFlags(LINK_TYPES, exitCode, out);
}

/** `key=1` / `key=0` lines of a probe that tries things → one boolean per key; null unless every key was said. */
function parseFlags<K extends string>(keys: readonly K[], exitCode: number, out: string): Record<K, boolean> | null {
  if (exitCode !== 0) return null;
  const seen = new Map<string, boolean>();
  for (const m of out.matchAll(/^(\w+)=([01])$/gm)) seen.set(m[1]!, m[2] === '1');
  if (!keys.every((k) => seen.has(k))) return null;
  return Object.fromEntries(keys.map((k) => [k, seen.get(k)!])) as Record<K, boolean>;
}

/**
 * The DHCP clients the host can run in a target's namespace, in order of preference: busybox's udhcpc (standalone
 * or as a busybox applet), ISC dhclient, dhcpcd. One line each that is there.
 */
export const dhcpClientsProbe: readonly string[] = [
  'sh',
  '-c',
  [
    '{ command -v udhcpc || { command -v busybox && busybox --list | grep -qx udhcpc; }; } >/dev/null 2>&1 && echo udhcpc',
    'command -v dhclient >/dev/null 2>&1 && echo dhclient',
    'command -v dhcpcd >/dev/null 2>&1 && echo dhcpcd',
    'exit 0',
  ].join('\n'),
];

export function parseDhcpClients(exitCode: number, out: string): Array<'udhcpc' | 'dhclient' | 'dhcpcd'> | null {
  if (exitCode !== 0) return null;
  const known = ['udhcpc', 'dhclient', 'dhcpcd'] as const;
  const lines = new Set(out.split('\n').map((l) => l.trim()));
  return known.filter((k) => lines.has(k));
}
