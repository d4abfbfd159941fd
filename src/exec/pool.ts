/** One executor (and one Docker client) per host, made on first use and kept: connections persist across jobs. */
import type Dockerode from 'dockerode';
import type { HostData } from '../model/hosts.js';
import type { ResourceRecord } from '../store/types.js';
import type { Executor } from './types.js';

export interface HostServices {
  executor(host: ResourceRecord): Executor;
  docker(host: ResourceRecord): Dockerode;
  /** Drops cached connections of a host (deleted, or its connection settings changed). */
  forget(hostId: string): Promise<void>;
  closeAll(): Promise<void>;
}

export interface HostServiceFactory {
  executor(data: HostData, secret: { privateKey?: string } | null): Executor;
  docker(data: HostData, executor: Executor): Dockerode;
}

export class HostPool implements HostServices {
  private executors = new Map<string, { exec: Executor; docker?: Dockerode; fingerprint: string }>();

  constructor(private factory: HostServiceFactory) {}

  private entry(host: ResourceRecord) {
    const data = host.data as unknown as HostData;
    // A changed record (e.g. re-created host with the same id is impossible, but be safe) gets a fresh executor.
    const fp = JSON.stringify(data.executor) + JSON.stringify(data.docker);
    let e = this.executors.get(host.id);
    if (!e || e.fingerprint !== fp) {
      if (e) void e.exec.close();
      e = { exec: this.factory.executor(data, (host.secret ?? null) as { privateKey?: string } | null), fingerprint: fp };
      this.executors.set(host.id, e);
    }
    return e;
  }

  executor(host: ResourceRecord): Executor {
    return this.entry(host).exec;
  }

  docker(host: ResourceRecord): Dockerode {
    const e = this.entry(host);
    e.docker ??= this.factory.docker(host.data as unknown as HostData, e.exec);
    return e.docker;
  }

  async forget(hostId: string): Promise<void> {
    const e = this.executors.get(hostId);
    this.executors.delete(hostId);
    await e?.exec.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.executors.values()];
    this.executors.clear();
    await Promise.allSettled(all.map((e) => e.exec.close()));
  }
}
