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
