/** One connection (executor + Docker client) per host, made on first use and kept: connections persist across jobs. */
import type Dockerode from 'dockerode';
import { runBatchOn, type BatchStep } from './batch.js';
import type { Executor, ExecutorStats } from './types.js';

/** How to reach a host: what the executors need, nothing about resources. */
export type ConnectionSpec =
  | { kind: 'local'; /** names the host in messages and tests */ label: string; dockerSocket?: string | undefined }
  | {
      kind: 'ssh';
      label: string;
      address: string;
      port: number;
      user: string;
      hostKeySha256: string;
      privateKey?: string | undefined;
      privateKeyPath?: string | undefined;
      dockerSocket?: string | undefined;
    };

/** A host the pool serves: its id (the cache key) and how to reach it. */
export interface HostTarget {
  id: string;
  connection: ConnectionSpec;
}

/** What a factory opens for a host: its executor, and its Docker client made on first use. */
export interface HostConnection {
  readonly executor: Executor;
  docker(): Dockerode;
}

export type ConnectionFactory = (spec: ConnectionSpec) => HostConnection;

/**
 * Told of every batch and single command sent to a host (by its label: the host's name), for metrics and spans; the
 * function it returns is called when the round trip ends (with what it threw, if anything).
 */
export interface ExecObserver {
  sent(host: string, commands: number, kind: 'batch' | 'command'): (error?: unknown) => void;
}

export interface HostServices {
  executor(host: HostTarget): Executor;
  docker(host: HostTarget): Dockerode;
  /** Drops cached connections of a host (deleted, or its connection settings changed). */
  forget(hostId: string): Promise<void>;
  closeAll(): Promise<void>;
  /** Each open connection's state, by host label, with its Docker client if one was made (metrics, stall diagnostics). */
  connectionStats?(): ConnectionStats[];
}

export interface ConnectionStats {
  host: string;
  stats: ExecutorStats;
  docker?: Dockerode;
}

interface PoolEntry {
  connection: HostConnection;
  /** The executor handed out: the connection's, observed when the pool has an observer. */
  executor: Executor;
  label: string;
  docker?: Dockerode;
  fingerprint: string;
}

export class HostPool implements HostServices {
  private connections = new Map<string, PoolEntry>();

  constructor(
    private open: ConnectionFactory,
    private observer?: ExecObserver,
  ) {}

  private entry(host: HostTarget) {
    // Changed connection settings (address, key, …) get a fresh connection.
    const fingerprint = JSON.stringify(host.connection);
    let entry = this.connections.get(host.id);
    if (!entry || entry.fingerprint !== fingerprint) {
      if (entry) void entry.connection.executor.close();
      const connection = this.open(host.connection);
      const label = host.connection.label;
      const executor = this.observer ? observed(connection.executor, label, this.observer) : connection.executor;
      entry = { connection, executor, label, fingerprint };
      this.connections.set(host.id, entry);
    }
    return entry;
  }

  executor(host: HostTarget): Executor {
    return this.entry(host).executor;
  }

  connectionStats(): ConnectionStats[] {
    const out: ConnectionStats[] = [];
    for (const e of this.connections.values()) {
      const stats = e.connection.executor.stats?.();
      if (stats) out.push({ host: e.label, stats, ...(e.docker ? { docker: e.docker } : {}) });
    }
    return out;
  }

  docker(host: HostTarget): Dockerode {
    const entry = this.entry(host);
    entry.docker ??= entry.connection.docker();
    return entry.docker;
  }

  async forget(hostId: string): Promise<void> {
    const entry = this.connections.get(hostId);
    this.connections.delete(hostId);
    await entry?.connection.executor.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(all.map((e) => e.connection.executor.close()));
  }
}

/**
 * The executor with every run and batch reported to the observer. A Proxy, so everything else the executor has
 * (connectionCount, openStream, stats) is the executor's own. A batch always goes through runBatchOn on the real
 * executor: one report per round trip, whether the executor has its own batch runner or not.
 */
function observed(executor: Executor, host: string, observer: ExecObserver): Executor {
  const track = async <T>(commands: number, kind: 'batch' | 'command', send: () => Promise<T>): Promise<T> => {
    const done = observer.sent(host, commands, kind);
    try {
      const r = await send();
      done();
      return r;
    } catch (e) {
      done(e);
      throw e;
    }
  };
  const run: Executor['run'] = (argv, opts) => track(1, 'command', () => executor.run(argv, opts));
  const runBatch = (steps: readonly BatchStep[], opts?: Parameters<typeof runBatchOn>[2]) =>
    steps.length ? track(steps.length, 'batch', () => runBatchOn(executor, steps, opts)) : runBatchOn(executor, steps, opts);
  return new Proxy(executor, {
    get(target, p) {
      if (p === 'run') return run;
      if (p === 'runBatch') return runBatch;
      const v: unknown = Reflect.get(target, p, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
