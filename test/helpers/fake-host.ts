/** A fake executor that records every argv: for API and unit tests only, never as proof the network works. */
import type Dockerode from 'dockerode';
import type { Executor, RunOptions, RunResult } from '../../src/exec/types.js';
import type { HostServiceFactory } from '../../src/exec/pool.js';
import type { HostData } from '../../src/model/hosts.js';

export type Responder = (argv: readonly string[], host: string) => Partial<RunResult> | Promise<Partial<RunResult>> | undefined;

export interface Recorded { host: string; argv: string[] }

export class FakeExecutor implements Executor {
  readonly kind = 'local' as const;
  constructor(private host: string, private world: FakeWorld) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    this.world.calls.push({ host: this.host, argv: [...argv] });
    if (this.world.delayMs) await new Promise((r) => setTimeout(r, this.world.delayMs));
    let r: Partial<RunResult> | undefined;
    for (const f of this.world.responders) {
      r = await f(argv, this.host);
      if (r) break;
    }
    return { exitCode: 0, stdout: '', stderr: '', ms: 1, timedOut: false, ...r };
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
  if (argv[0] === 'sh' && argv.at(-1) === 'openvswitch') return { exitCode: 1 };
  // An empty host: no bridges, no links by name.
  if (argv.includes('br-exists')) return { exitCode: 2 };
  if (argv[0] === 'ip' && argv[1] === '-j' && argv.includes('dev')) return { exitCode: 1, stderr: `Device "${argv.at(-1)}" does not exist.` };
  return undefined;
};

export class FakeWorld {
  calls: Recorded[] = [];
  responders: Responder[] = [healthyHost];
  delayMs = 0;
  dockerVersion = '20.10.24+dfsg1';
  containers = new Map<string, { id: string; pid: number; running: boolean }>();

  /** Put a responder in front of the defaults. */
  on(r: Responder): void {
    this.responders.unshift(r);
  }

  factory(): HostServiceFactory {
    return {
      executor: (data: HostData) => new FakeExecutor(data.name, this),
      docker: () => this.fakeDocker(),
    };
  }

  private fakeDocker(): Dockerode {
    const world = this;
    return {
      version: async () => ({ Version: world.dockerVersion }),
      getContainer: (ref: string) => ({
        inspect: async () => {
          const c = world.containers.get(ref);
          if (!c) throw Object.assign(new Error(`No such container: ${ref}`), { statusCode: 404 });
          return { Id: c.id, Name: `/${ref}`, State: { Running: c.running, Pid: c.running ? c.pid : 0 } };
        },
      }),
    } as unknown as Dockerode;
  }
}
