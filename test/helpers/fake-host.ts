/**
 * A fake executor that records every argv: for API and unit tests only, never as proof the network works.
 * It answers only commands it knows (the shapes netplumb's plans and probes use, or a test's own responders);
 * anything else is recorded as unexpected and answered with exit 127, and the test fails (see test/helpers/setup.ts).
 */
import type Dockerode from 'dockerode';
import type { Executor, RunOptions, RunResult } from '../../src/exec/types.js';
import type { BatchResult, BatchStep, BatchStepResult } from '../../src/exec/batch.js';
import type { ConnectionFactory } from '../../src/exec/pool.js';
import { dhcpClientsProbe, KERNEL_MODULES, linkTypesProbe, moduleProbe, trafficControlProbe } from '../../src/ops/probe.js';

export type Responder = (argv: readonly string[], host: string) => Partial<RunResult> | Promise<Partial<RunResult>> | undefined;

export interface Recorded {
  host: string;
  argv: string[];
}

/** Every FakeWorld made in this test file: the shared afterEach checks none saw an unexpected command. */
export const worlds = new Set<FakeWorld>();

export class FakeExecutor implements Executor {
  readonly kind = 'local' as const;
  constructor(
    private host: string,
    private world: FakeWorld,
  ) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    this.world.calls.push({ host: this.host, argv: [...argv] });
    if (this.world.delayMs) await new Promise((r) => setTimeout(r, this.world.delayMs));
    for (const f of [...this.world.responders, knownCommands]) {
      const r = await f(argv, this.host);
      if (r) return { exitCode: 0, stdout: '', stderr: '', ms: 1, timedOut: false, ...r };
    }
    this.world.unexpected.push({ host: this.host, argv: [...argv] });
    return { exitCode: 127, stdout: '', stderr: `fake host: no answer for ${JSON.stringify(argv)}`, ms: 1, timedOut: false };
  }
  /** A batch as the real one behaves: each step answered in turn, stopping after the first not-ok status. */
  async runBatch(steps: readonly BatchStep[]): Promise<BatchResult> {
    this.world.batches.push({ host: this.host, steps: steps.length });
    const results: BatchStepResult[] = [];
    for (const [i, step] of steps.entries()) {
      const r = await this.runStep(step);
      results.push({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, ms: r.ms, timedOut: r.timedOut });
      if (!(step.okExitCodes ?? [0]).includes(r.exitCode))
        return { results, stoppedAt: i, ms: 1, timedOut: false, preamble: { stdout: '', stderr: '' } };
    }
    return { results, stoppedAt: null, ms: 1, timedOut: false, preamble: { stdout: '', stderr: '' } };
  }
  /** `[nsenter …] ip -batch -` runs its lines as ip commands (recorded one by one), stopping at the first failure, as ip does. */
  private async runStep(step: BatchStep): Promise<RunResult> {
    const force = step.argv.slice(-4).join(' ') === 'ip -force -batch -';
    const at = step.argv.length - (force ? 4 : 3);
    const isIpBatch = force || (at >= 0 && step.argv.slice(at).join(' ') === 'ip -batch -');
    if (!isIpBatch) return this.run(step.argv);
    const prefix = step.argv.slice(0, at);
    const out: RunResult = { exitCode: 0, stdout: '', stderr: '', ms: 1, timedOut: false };
    for (const line of (step.stdin ?? '').split('\n').filter(Boolean)) {
      const r = await this.run([...prefix, 'ip', ...line.split(' ')]);
      out.stdout += r.stdout;
      out.stderr += r.stderr;
      if (r.exitCode !== 0 && !force) return { ...out, exitCode: 1 };
    }
    return out;
  }
  async close(): Promise<void> {}
}

/** Default answers that make a probe look like a healthy netdev-only OVS host. */
export const healthyHost: Responder = (argv) => {
  const cmd = argv.join(' ');
  if (cmd === 'uname -r') return { stdout: '6.1.0-test\n' };
  if (cmd === 'ip -V') return { stdout: 'ip utility, iproute2-6.1.0, libbpf 1.1.2\n' };
  if (cmd === 'ovs-vsctl --version') return { stdout: 'ovs-vsctl (Open vSwitch) 3.1.0\nDB Schema 8.3.1\n' };
  if (cmd.includes('datapath_types')) return { stdout: '[netdev, system]\n' };
  if (cmd === 'cat /proc/sys/kernel/random/boot_id') return { stdout: '5c1b8a4e-0000-4000-8000-000000000001\n' };
  if (argv[0] === 'sh' && argv.at(-1) === 'openvswitch') return { exitCode: 1 };
  // An empty host: no bridges, no links by name.
  if (argv.includes('br-exists')) return { exitCode: 2 };
  if (argv[0] === 'ip' && argv[1] === '-j' && argv.includes('dev'))
    return { exitCode: 1, stderr: `Device "${argv.at(-1)}" does not exist.` };
  return undefined;
};

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const ok = { exitCode: 0 };

/**
 * The command shapes netplumb runs, answered with success (empty output). A wrong argv — an unknown tool, a
 * misspelled subcommand, a bad interface name — falls through and fails the test.
 */
const knownCommands: Responder = (argv) => {
  const [tool, ...rest] = argv;
  if (tool === 'nsenter')
    return /^--net=\/(run\/netns|run\/netplumb\/ns|proc\/\d+\/ns)\//.test(rest[0] ?? '') ? knownCommands(rest.slice(1), '') : undefined;
  if (tool === 'ovs-vsctl') {
    if (rest[0] !== '--timeout=10') return undefined;
    const words = rest.slice(1).filter((w) => !w.startsWith('--') || w === '--');
    const verbs = new Set([
      'add-br',
      'del-br',
      'add-port',
      'del-port',
      'set',
      'clear',
      'remove',
      'find',
      'list',
      'list-ports',
      'br-exists',
      'br-get-external-id',
      'port-to-br',
    ]);
    const commands = words
      .join(' ')
      .split(' -- ')
      .map((c) => c.trim().split(' ')[0]);
    return commands.every((v) => v !== undefined && verbs.has(v)) ? ok : undefined;
  }
  if (tool === 'ip') {
    const args = rest[0] === '-j' || rest[0] === '-4' || rest[0] === '-6' ? rest.slice(rest[1] === '-d' ? 2 : 1) : rest;
    const [object, verb] = args;
    const devIndex = args.indexOf('dev');
    if (devIndex >= 0 && !IFNAME.test(args[devIndex + 1] ?? '')) return undefined;
    if (object === 'link' && ['add', 'set', 'del', 'show'].includes(verb ?? '')) return ok;
    if (object === 'addr' && ['replace', 'del', 'show'].includes(verb ?? '')) return ok;
    if (object === 'route' && ['replace', 'del', 'show'].includes(verb ?? '')) return ok;
    if (object === 'rule' && ['del', 'show'].includes(verb ?? '')) return ok;
    return undefined;
  }
  if (tool === 'ethtool' && rest[0] === '-K' && IFNAME.test(rest[1] ?? '') && rest[2] === 'tx' && rest[3] === 'off') return ok;
  if (tool === 'timeout' && rest[0] === '0.2' && rest[1] === 'arping') return ok;
  if (tool === 'ping' && rest.join(' ').startsWith('-c 1 -W 1 ')) return ok;
  if (tool === 'bridge' && rest[0] === 'link' && rest[1] === 'set') return ok;
  if (tool === 'stat' && rest.join(' ').startsWith('-L -c %i /proc/self/ns/net ')) return { stdout: '4026531840\n4026532999\n' };
  // The namespace guard of attach batches (ops/attachments.ts nsGuardStep): the fake target's inode is 4026532999.
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-ns-check') return { exitCode: rest[4] === '4026532999' ? 0 : 1 };
  // Holding the target's namespace for an attach batch (ops/attachments.ts holdingNamespace), and releasing it.
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-ns-hold' && rest[4]?.startsWith('/run/netplumb/ns/'))
    return { exitCode: rest[6] === '4026532999' ? 0 : 1 };
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-ns-end' && rest[4]?.startsWith('/run/netplumb/ns/'))
    return { exitCode: rest[5] === '4026532999' ? 0 : 1 };
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-ns-release' && rest[3]?.startsWith('/run/netplumb/ns/')) return ok;
  // Policy rules (ops/attachments.ts ruleStep), IPv6 on for one interface, a phys NIC back to the host (ops/nic-attachments.ts).
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-rule' && ['-4', '-6'].includes(rest[3] ?? '')) return ok;
  if (tool === 'sh' && rest[0] === '-c' && rest[2] === 'netplumb-ipv6-on' && IFNAME.test(rest[3] ?? '')) return ok;
  if (
    tool === 'sh' &&
    rest[0] === '-c' &&
    ['netplumb-nic-return', 'netplumb-nic-restore', 'netplumb-nic-rename-back'].includes(rest[2] ?? '')
  )
    return ok;
  if (tool === 'ethtool' && rest.join(' ') === '--version') return { stdout: 'ethtool version 6.1\n' };
  // DHCP (ops/dhcp.ts): our script written, the client started (pid 4242) and its lease waited for, stopped, its status.
  if (tool === 'sh' && rest[0] === '-c' && rest[2]?.startsWith('netplumb-dhcp-')) return dhcpCommand(rest[2], rest.slice(3));
  if (tool === 'rm' && rest[0] === '-f' && rest.length === 2 && DHCP_FILE.test(rest[1]!)) return ok;
  if (tool === 'cat' && rest.length === 1 && DHCP_FILE.test(rest[0]!) && rest[0]!.endsWith('.lease')) return { stdout: FAKE_LEASE };
  if (KERNEL_MODULES.some((m) => moduleProbe(m).join('\0') === argv.join('\0'))) return ok;
  // The traffic-control probe: this machine's kernel (everything but netem).
  if (argv.join('\0') === trafficControlProbe.join('\0')) return { stdout: TRAFFIC_CONTROL_NO_NETEM };
  // The device-type probe: this machine's kernel (macvlan yes; no ipvlan, 802.1Q vlan or dummy), and busybox's udhcpc.
  if (argv.join('\0') === linkTypesProbe.join('\0')) return { stdout: LINK_TYPES_HERE };
  if (argv.join('\0') === dhcpClientsProbe.join('\0')) return { stdout: 'udhcpc\n' };
  if (tool === 'tc') {
    if (rest.join(' ') === '-batch -') return ok;
    if (
      rest[0] === 'qdisc' &&
      rest[1] === 'del' &&
      rest[2] === 'dev' &&
      IFNAME.test(rest[3] ?? '') &&
      rest[4] === 'root' &&
      rest.length === 5
    )
      return ok;
    if (['-j qdisc show dev', '-j filter show dev'].includes(rest.slice(0, 4).join(' ')) && IFNAME.test(rest[4] ?? '') && rest.length === 5)
      return { stdout: '[]\n' };
    return undefined;
  }
  if (tool === 'nft') {
    if (rest.join(' ') === '-f -') return ok;
    // No table of ours until a test says otherwise.
    if (
      rest.slice(0, 4).join(' ') === '-j list table netdev' &&
      /^netplumb_(att|tun)_[a-z2-7]{20,26}$/.test(rest[4] ?? '') &&
      rest.length === 5
    )
      return { exitCode: 1, stderr: 'Error: No such file or directory' };
    return undefined;
  }
  if (tool === 'true' && rest.length === 0) return ok;
  if (tool === 'ovs-ofctl' && rest[0] === '--timeout=10') {
    if (rest[1] === 'mod-port' && IFNAME.test(rest[2] ?? '') && IFNAME.test(rest[3] ?? '') && rest.length === 5)
      return ['forward', 'no-forward', 'receive', 'no-receive'].includes(rest[4]!) ? ok : undefined;
    if (rest[1] === 'show' && IFNAME.test(rest[2] ?? '') && rest.length === 3) return ok;
    return undefined;
  }
  return undefined;
};

const DHCP_FILE = /^\/run\/netplumb\/dhcp\/att_[a-z0-9]+\.(sh|pid|lease|log|leases|lease\.tmp)$/;
/** What the fake DHCP client is leased (the lease file's lines). */
export const FAKE_LEASE = 'address=10.11.12.150/24\nrouter=10.11.12.1\nserver=10.11.12.1\nlease=3600\n';

function dhcpCommand(name: string, args: string[]): Partial<RunResult> | undefined {
  const files = (xs: string[]) => xs.length > 0 && xs.every((x) => DHCP_FILE.test(x));
  if (name === 'netplumb-dhcp-script' && args[0] === '/run/netplumb/dhcp' && files(args.slice(1)) && args.length === 2) return ok;
  if (name === 'netplumb-dhcp-start' && args[0] === '/run/netplumb/dhcp' && files(args.slice(1, 4))) {
    const [ns, client] = args.slice(4);
    if (!/^\/(run\/netns|run\/netplumb\/ns|proc\/\d+\/ns)\//.test(ns ?? '') || !['udhcpc', 'dhclient'].includes(client ?? ''))
      return undefined;
    return { stdout: '4242\n' };
  }
  if (name === 'netplumb-dhcp-wait' && files([args[0]!, args[1]!, args[3]!]) && /^\d+$/.test(args[2] ?? '') && args.length === 4)
    return { stdout: FAKE_LEASE };
  if (name === 'netplumb-dhcp-stop' && files(args)) return ok;
  if (name === 'netplumb-dhcp-status' && files([args[0]!]) && args.length === 2) return { stdout: '4242\n4026532999\n4026532999\n' };
  return undefined;
}

/** What the traffic-control probe prints on a kernel without netem (as on the machine the tests run on). */
export const TRAFFIC_CONTROL_NO_NETEM =
  [
    'netem=0',
    'tbf=1',
    'htb=1',
    'ingress=1',
    'ifb=1',
    'u32=1',
    'mirred=1',
    'bpf=1',
    'nftNumgen=1',
    'nftLimit=1',
    'nftNetdevHooks=1',
    'iptablesStatistic=1',
  ].join('\n') + '\n';
/** The same with netem. */
export const TRAFFIC_CONTROL_ALL = TRAFFIC_CONTROL_NO_NETEM.replace('netem=0', 'netem=1');

export class FakeWorld {
  calls: Recorded[] = [];
  /** Batches sent (one per host per plan phase): how many round trips a job cost. */
  batches: { host: string; steps: number }[] = [];
  /** Commands no responder knew: each one fails the test that ran it. */
  unexpected: Recorded[] = [];
  responders: Responder[] = [healthyHost];
  delayMs = 0;
  dockerVersion = '20.10.24+dfsg1';
  containers = new Map<string, { id: string; pid: number; running: boolean }>();

  constructor() {
    worlds.add(this);
  }

  /** Put a responder in front of the defaults. */
  on(r: Responder): void {
    this.responders.unshift(r);
  }

  factory(): ConnectionFactory {
    return (spec) => ({ executor: new FakeExecutor(spec.label, this), docker: () => this.fakeDocker() });
  }

  private fakeDocker(): Dockerode {
    return {
      version: async () => ({ Version: this.dockerVersion }),
      getContainer: (ref: string) => ({
        inspect: async () => {
          const c = this.containers.get(ref);
          if (!c) throw Object.assign(new Error(`No such container: ${ref}`), { statusCode: 404 });
          return { Id: c.id, Name: `/${ref}`, State: { Running: c.running, Pid: c.running ? c.pid : 0 } };
        },
      }),
    } as unknown as Dockerode;
  }
}

/** The device types this machine's kernel makes (TESTBED.md): macvlan and vxlan; not ipvlan, vlan, dummy, gretap (no gre module). */
export const LINK_TYPES_HERE = ['macvlan=1', 'ipvlan=0', 'vlan=0', 'dummy=0', 'gretap=0', 'ip6gretap=0', 'vxlan=1', ''].join('\n');
