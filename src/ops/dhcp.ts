/**
 * DHCP for attachments with `addresses: "dhcp"`, as plans (no I/O here): a client run FROM THE HOST inside the
 * target's network namespace (`nsenter --net=…`; the container needs no client), applying its lease with a script of
 * ours and writing the lease's facts to a file the job reads back. The client is tracked by a pid file, keeps running
 * for renewals, and is stopped (releasing the lease) on delete — pipework leaks its clients (jpetazzo/pipework#163).
 *
 * Files on the host, all under DHCP_DIR and named by the attachment id: `<id>.sh` (the script the client runs at each
 * event), `<id>.pid` (the client's pid), `<id>.lease` (key=value lines: address, router, server, lease), `<id>.log`
 * (the client's output), and for dhclient `<id>.leases` (its own lease database).
 *
 * Clients: busybox udhcpc (standalone or as a busybox applet) and ISC dhclient. dhcpcd is refused (422): it manages
 * the interfaces of the namespace it runs in as a whole and its hooks differ per distribution; it is untested here.
 */
import type { AttachmentData, DhcpLease } from '../model/attachments.js';
import { type Step, step } from './plan.js';

export const DHCP_DIR = '/run/netplumb/dhcp';
/** How long a job waits for the first lease before it fails and undoes everything. */
export const LEASE_WAIT_SECONDS = 15;
/** How long a stop waits for the client to send its release and exit before it is killed. */
const STOP_WAIT_TENTHS = 50;

export type DhcpClientName = 'udhcpc' | 'dhclient' | 'dhcpcd';
/** The clients netplumb can run (in the probe's order of preference). */
export const SUPPORTED_DHCP_CLIENTS: readonly DhcpClientName[] = ['udhcpc', 'dhclient'];

export interface DhcpFiles {
  script: string;
  pid: string;
  lease: string;
  log: string;
  /** dhclient's own lease database. */
  leases: string;
}

/** The attachment's files on the host (the id is validated: att_ and base32). */
export function dhcpFiles(id: string): DhcpFiles {
  if (!/^[a-z]+_[a-z0-9]+$/.test(id)) throw new TypeError(`dhcpFiles: not a resource id: ${JSON.stringify(id)}`);
  const base = `${DHCP_DIR}/${id}`;
  return { script: `${base}.sh`, pid: `${base}.pid`, lease: `${base}.lease`, log: `${base}.log`, leases: `${base}.leases` };
}

/**
 * The client to run: the requested one, else the first the host has that netplumb supports. `refused` says why
 * none fits (for a 422 on /dhcpClient or /addresses). `hostClients` null: the host was not probed for clients yet
 * (udhcpc is assumed, and a missing one fails the start step with the shell's own words).
 */
export function chooseDhcpClient(
  requested: DhcpClientName | null,
  hostClients: readonly DhcpClientName[] | null | undefined,
): { client: DhcpClientName } | { refused: string } {
  if (requested === 'dhcpcd' || (requested === null && hostClients?.length && hostClients.every((c) => c === 'dhcpcd')))
    return {
      refused:
        'dhcpcd is not supported: run from the host it manages its namespace as a whole; install busybox (udhcpc) or dhclient, then re-probe the host',
    };
  if (requested) return { client: requested };
  if (!hostClients) return { client: 'udhcpc' };
  const client = hostClients.find((c) => SUPPORTED_DHCP_CLIENTS.includes(c));
  return client ? { client } : { refused: 'no DHCP client on the host' };
}

/** Shell helpers shared by the scripts: the prefix length of a dotted mask, and the lease file written atomically. */
const SCRIPT_HELPERS = `prefixlen() {
  n=0
  for o in $(echo "$1" | tr . ' '); do
    case $o in 255) n=$((n+8)) ;; 254) n=$((n+7)) ;; 252) n=$((n+6)) ;; 248) n=$((n+5)) ;; 240) n=$((n+4)) ;; 224) n=$((n+3)) ;; 192) n=$((n+2)) ;; 128) n=$((n+1)) ;; esac
  done
  echo "$n"
}
# apply IFACE CIDR ROUTER SERVER SECONDS: the address replaces the previous lease's, the default route goes via the
# router, then the lease file (written last, atomically: the job reads it as the sign the lease is applied).
apply() {
  old=$(sed -n 's/^address=//p' "$LEASE_FILE" 2>/dev/null)
  ip addr replace "$2" dev "$1" || exit 1
  if [ -n "$old" ] && [ "$old" != "$2" ]; then ip addr del "$old" dev "$1" 2>/dev/null; fi
  ip link set dev "$1" up
  if [ -n "$3" ]; then ip route replace default via "$3" dev "$1"; fi
  printf 'address=%s\\nrouter=%s\\nserver=%s\\nlease=%s\\n' "$2" "$3" "$4" "$5" > "$LEASE_FILE.tmp" && mv -f "$LEASE_FILE.tmp" "$LEASE_FILE"
}
# unapply IFACE: the lease's address goes (and with it its routes), then the lease file.
unapply() {
  old=$(sed -n 's/^address=//p' "$LEASE_FILE" 2>/dev/null)
  if [ -n "$old" ]; then ip addr del "$old" dev "$1" 2>/dev/null; fi
  rm -f "$LEASE_FILE"
}`;

/**
 * The script the client runs at each event, inside the target's namespace (a child of the client), with the host's
 * tools (ip, sed): it applies the address and router and writes the lease file. One per attachment (its lease file is
 * named in it).
 */
export function dhcpScript(client: DhcpClientName, id: string): string {
  const f = dhcpFiles(id);
  const head = `#!/bin/sh\n# netplumb ${id}: applies ${client}'s lease inside the target's namespace; facts to ${f.lease}\nLEASE_FILE=${f.lease}\n${SCRIPT_HELPERS}\n`;
  if (client === 'udhcpc') {
    // busybox udhcpc: $1 the event; $interface $ip $mask (prefix) or $subnet (dotted) $router (list) $serverid $lease.
    return `${head}case "$1" in
  deconfig) ip link set dev "$interface" up; unapply "$interface" ;;
  bound|renew)
    p=\${mask:-$(prefixlen "$subnet")}
    set -- $router
    apply "$interface" "$ip/$p" "$1" "$serverid" "$lease" ;;
  leasefail|nak) : ;;
esac
exit 0
`;
  }
  if (client === 'dhclient') {
    // ISC dhclient-script's variables: $reason $interface $new_ip_address $new_subnet_mask $new_routers ...
    return `${head}case "$reason" in
  PREINIT) ip link set dev "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    set -- $new_routers
    apply "$interface" "$new_ip_address/$(prefixlen "$new_subnet_mask")" "$1" "$new_dhcp_server_identifier" "$new_dhcp_lease_time" ;;
  EXPIRE|FAIL|RELEASE|STOP) unapply "$interface" ;;
esac
exit 0
`;
  }
  throw new TypeError(`dhcpScript: ${client} is not supported`);
}

/** The client's argv (before the namespace is entered); the start step finds udhcpc as a busybox applet if need be. */
export function dhcpClientArgv(client: DhcpClientName, id: string, ifname: string): string[] {
  const f = dhcpFiles(id);
  if (client === 'udhcpc')
    // -f: stay in the foreground of our detached session (the pid file is its own); -R: release on exit (SIGTERM);
    // discover 4 times 2 s apart, then again after 5 s, for as long as it runs.
    return ['udhcpc', '-f', '-R', '-i', ifname, '-s', f.script, '-p', f.pid, '-t', '4', '-T', '2', '-A', '5'];
  if (client === 'dhclient')
    // -nw: a daemon at once (it writes its pid file then; in the foreground it would write it only once bound); its own
    // pid and lease database files.
    return ['dhclient', '-4', '-nw', '-pf', f.pid, '-lf', f.leases, '-sf', f.script, ifname];
  throw new TypeError(`dhcpClientArgv: ${client} is not supported`);
}

/**
 * Stops the attachment's client, if its pid file names a live process that is ours (its command line holds the pid
 * file's path: a reused pid is left alone): SIGTERM (udhcpc -R sends its release and runs the deconfig event), up to
 * 5 s, then SIGKILL. `$1` is the pid file.
 */
const STOP_FN = `stop_client() {
  [ -s "$1" ] || return 0
  p=$(cat "$1")
  case "$p" in ''|*[!0-9]*) rm -f "$1"; return 0 ;; esac
  if grep -qF "$1" "/proc/$p/cmdline" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null
    i=0
    while [ -d "/proc/$p" ] && [ $i -lt ${STOP_WAIT_TENTHS} ]; do sleep 0.1; i=$((i+1)); done
    if [ -d "/proc/$p" ]; then kill -KILL "$p" 2>/dev/null; echo "the DHCP client $p did not exit in 5 s: killed" >&2; fi
  fi
  rm -f "$1"
}`;

const START_SH = `${STOP_FN}
dir=$1 pid=$2 lease=$3 log=$4 ns=$5; shift 5
mkdir -p "$dir" || exit 1
stop_client "$pid"
rm -f "$lease"
if [ "$1" = udhcpc ] && ! command -v udhcpc >/dev/null 2>&1; then set -- busybox "$@"; fi
command -v "$1" >/dev/null 2>&1 || { echo "$1 is not on this host" >&2; exit 1; }
date -u "+%Y-%m-%dT%H:%M:%SZ start: $*" >> "$log"
setsid nsenter --net="$ns" "$@" </dev/null >>"$log" 2>&1 &
i=0 gone=0
while [ ! -s "$pid" ]; do
  # A client that daemonizes (dhclient -nw) leaves its first process: half a second more for its daemon's pid file.
  kill -0 $! 2>/dev/null || gone=$((gone+1))
  if [ $i -ge 50 ] || [ $gone -ge 5 ]; then tail -n 3 "$log" >&2; echo "the DHCP client did not start" >&2; exit 1; fi
  sleep 0.1; i=$((i+1))
done
cat "$pid"`;

const STOP_SH = `${STOP_FN}
stop_client "$1"; shift
rm -f "$@"`;

const WAIT_SH = `lease=$1 pid=$2 secs=$3 log=$4
end=$(( $(date +%s) + secs ))
until grep -q '^address=' "$lease" 2>/dev/null; do
  p=$(cat "$pid" 2>/dev/null)
  if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then tail -n 3 "$log" >&2; echo "the DHCP client exited before it got a lease" >&2; exit 1; fi
  if [ "$(date +%s)" -ge "$end" ]; then tail -n 3 "$log" >&2; echo "no DHCP lease from the segment within $secs s" >&2; exit 1; fi
  sleep 0.2
done
cat "$lease"`;

/** The step description of the wait: a failure of it is the no-lease problem (see kinds/attachment-dhcp.ts). */
export const LEASE_WAIT_STEP = 'wait for a DHCP lease';

/**
 * Write the script, start the client in the target's namespace (detached, tracked by its pid file; a client this
 * attachment left running is stopped first), and wait up to LEASE_WAIT_SECONDS for its first lease. The start's undo
 * stops the client (releasing what it got) and removes the files; a wait that runs out fails the plan, so the runner
 * undoes everything. `nsPath` is only entered when the client starts (it stays in that namespace whatever becomes of
 * the path): the batch's held namespace is right. No steps for an attachment with static addresses.
 */
export function dhcpStartSteps(d: Pick<AttachmentData, 'hostId' | 'dhcp'>, id: string, ifname: string, nsPath: string): Step[] {
  if (!d.dhcp) return [];
  const client = d.dhcp.client ?? 'udhcpc';
  const f = dhcpFiles(id);
  const h = d.hostId;
  return [
    step(
      h,
      `DHCP script for ${client} at ${f.script}`,
      [
        'sh',
        '-c',
        'mkdir -p "$1" && cat > "$2.tmp" && chmod 755 "$2.tmp" && mv -f "$2.tmp" "$2"',
        'netplumb-dhcp-script',
        DHCP_DIR,
        f.script,
      ],
      {
        stdin: dhcpScript(client, id),
        undo: ['rm', '-f', f.script],
      },
    ),
    step(
      h,
      `start ${client} on ${ifname} in the target (pid file ${f.pid})`,
      ['sh', '-c', START_SH, 'netplumb-dhcp-start', DHCP_DIR, f.pid, f.lease, f.log, nsPath, ...dhcpClientArgv(client, id, ifname)],
      { undo: dhcpStopArgv(id), undoWhenFailed: true },
    ),
    step(h, `${LEASE_WAIT_STEP} on ${ifname} (up to ${LEASE_WAIT_SECONDS} s)`, [
      'sh',
      '-c',
      WAIT_SH,
      'netplumb-dhcp-wait',
      f.lease,
      f.pid,
      String(LEASE_WAIT_SECONDS),
      f.log,
    ]),
  ];
}

function dhcpStopArgv(id: string): string[] {
  const f = dhcpFiles(id);
  return ['sh', '-c', STOP_SH, 'netplumb-dhcp-stop', f.pid, f.lease, `${f.lease}.tmp`, f.script, f.log, f.leases];
}

/** Stop the client (SIGTERM: udhcpc releases its lease) and remove its files; nothing to do when none runs. */
export function dhcpStopSteps(d: Pick<AttachmentData, 'hostId' | 'dhcp'>, id: string): Step[] {
  if (!d.dhcp) return [];
  return [step(d.hostId, `stop the DHCP client (release the lease) and remove ${DHCP_DIR}/${id}.*`, dhcpStopArgv(id))];
}

/** Reads the lease file (after the wait step, it is there). */
export function leaseReadArgv(id: string): string[] {
  return ['cat', dhcpFiles(id).lease];
}

/** The lease file's facts; null when it holds no address (yet). */
export function parseLeaseFile(text: string, obtainedAt: string): DhcpLease | null {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1]!, m[2]!.trim());
  }
  const address = kv.get('address') ?? '';
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(address)) return null;
  const ip = (k: string) => {
    const v = kv.get(k) ?? '';
    return /^\d{1,3}(\.\d{1,3}){3}$/.test(v) ? v : null;
  };
  const secs = Number(kv.get('lease'));
  return {
    address,
    router: ip('router'),
    server: ip('server'),
    leaseSeconds: kv.get('lease') && Number.isInteger(secs) && secs >= 0 ? secs : null,
    obtainedAt,
  };
}

/**
 * Read-only: is the client alive (its pid file names a process of ours), and in which namespace, next to the
 * target's. Prints `pid`, the client's netns inode, the target's netns inode (lines; empty when unknown).
 */
export function dhcpStatusArgv(id: string, targetNsPath: string | null): string[] {
  const f = dhcpFiles(id);
  return [
    'sh',
    '-c',
    'p=$(cat "$1" 2>/dev/null); case "$p" in ""|*[!0-9]*) p="" ;; esac; if [ -n "$p" ] && grep -qF "$1" "/proc/$p/cmdline" 2>/dev/null; then echo "$p"; stat -L -c %i "/proc/$p/ns/net" 2>/dev/null || echo; else echo; echo; fi; [ -n "$2" ] && stat -L -c %i "$2" 2>/dev/null || echo; exit 0',
    'netplumb-dhcp-status',
    f.pid,
    targetNsPath ?? '',
  ];
}

export interface DhcpClientStatus {
  running: boolean;
  pid: number | null;
  /** The client runs in the target's namespace now (false: in an old one, e.g. of a container since restarted). */
  inTarget: boolean | null;
}

export function parseDhcpStatus(out: { exitCode: number; stdout: string } | undefined): DhcpClientStatus {
  if (!out || out.exitCode !== 0) return { running: false, pid: null, inTarget: null };
  const [pid = '', clientNs = '', targetNs = ''] = out.stdout.split('\n').map((l) => l.trim());
  const running = /^\d+$/.test(pid);
  return {
    running,
    pid: running ? Number(pid) : null,
    inTarget: running && clientNs && targetNs ? clientNs === targetNs : null,
  };
}

/** An attachment's static part: what the attach plans put on the interface (a DHCP attachment's address is the client's). */
export function staticAddressing<T extends Pick<AttachmentData, 'dhcp' | 'addresses'>>(d: T): T {
  return d.dhcp ? { ...d, addresses: [] } : d;
}

/** The record after a lease: the leased address is the attachment's address (shown, and expected by observe). */
export function withLease<T extends Pick<AttachmentData, 'dhcp' | 'addresses' | 'lease'>>(d: T, lease: DhcpLease | null): T {
  if (!d.dhcp) return d;
  return { ...d, lease, addresses: lease ? [lease.address] : [] };
}
