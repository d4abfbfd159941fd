/** One connection (executor + Docker client) per host, made on first use and kept: connections persist across jobs. */
import type Dockerode from 'dockerode';
import type { Executor } from './types.js';

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

export interface HostServices {
  executor(host: HostTarget): Executor;
  docker(host: HostTarget): Dockerode;
  /** Drops cached connections of a host (deleted, or its connection settings changed). */
  forget(hostId: string): Promise<void>;
  /** Per host: its connection's numbers now (channels, sessions, Docker streams), for diagnostics. */
  diagnostics?(dockerStats?: (docker: Dockerode) => Record<string, number>): Record<string, Record<string, number>>;
  closeAll(): Promise<void>;
}

export class HostPool implements HostServices {
  private connections = new Map<string, { connection: HostConnection; docker?: Dockerode; fingerprint: string; label?: string }>();

  constructor(private open: ConnectionFactory) {}

  private entry(host: HostTarget) {
    // Changed connection settings (address, key, …) get a fresh connection.
    const fingerprint = JSON.stringify(host.connection);
    let entry = this.connections.get(host.id);
    if (!entry || entry.fingerprint !== fingerprint) {
      if (entry) void entry.connection.executor.close();
      entry = { connection: this.open(host.connection), fingerprint, label: host.connection.label };
      this.connections.set(host.id, entry);
    }
    return entry;
  }

  executor(host: HostTarget): Executor {
    return this.entry(host).connection.executor;
  }

  docker(host: HostTarget): Dockerode {
    const entry = this.entry(host);
    entry.docker ??= entry.connection.docker();
    return entry.docker;
  }

  /** Per host (by its label): its executor's and Docker client's numbers now, for diagnostics of a stall. */
  diagnostics(dockerStats: (docker: Dockerode) => Record<string, number> = () => ({})): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [id, e] of this.connections) {
      const label = e.label ?? id;
      out[label] = { ...(e.connection.executor.stats?.() ?? {}), ...(e.docker ? dockerStats(e.docker) : {}) };
    }
    return out;
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
