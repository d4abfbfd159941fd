/** Wires store → host services → job runner: shared by the server, the demo and the tests. */
import type { Executor } from './exec/types.js';
import { HostPool, type HostServiceFactory } from './exec/pool.js';
import { LocalExecutor } from './exec/local.js';
import { SshExecutor } from './exec/ssh.js';
import { createDockerClient } from './docker/index.js';
import { JobRunner } from './jobs/runner.js';
import type { AppConfig, AppDeps } from './deps.js';
import type { Store } from './store/types.js';
import { sealedSecretsStore } from './store/sealed-secrets.js';
import { FaultTolerantStore } from './store/fault-tolerant.js';

export const realHostFactory: HostServiceFactory = realHostFactoryFor({});

/** keyDir: NETPLUMB_KEY_DIR, checked again each time a key file is read (a host registered before it was set). */
export function realHostFactoryFor(opts: { keyDir?: string | undefined }): HostServiceFactory {
  return {
    executor(data, secret): Executor {
      if (data.executor.kind === 'local') return new LocalExecutor();
      const e = data.executor;
      return new SshExecutor({
        address: e.address, port: e.port, user: e.user, hostKeySha256: e.hostKeySha256,
        ...(e.privateKeyPath ? { privateKeyPath: e.privateKeyPath, ...(opts.keyDir ? { keyDir: opts.keyDir } : {}) } : {}),
        ...(secret?.privateKey ? { privateKey: secret.privateKey } : {}),
      });
    },
    docker(data, executor) {
      if (data.executor.kind === 'local') return createDockerClient({ kind: 'local', socketPath: data.docker?.socketPath });
      return createDockerClient({ kind: 'ssh', executor: executor as SshExecutor, socketPath: data.docker?.socketPath });
    },
  };
}

export function createDeps(rawStore: Store, config: AppConfig, factory: HostServiceFactory = realHostFactoryFor(config)): AppDeps {
  const store = new FaultTolerantStore(sealedSecretsStore(rawStore, config.secretKey, ['host']));
  const hosts = new HostPool(factory);
  const runner = new JobRunner(store, hosts);
  // Secrets already stored must be redacted from logs too.
  for (let cursor: string | undefined, more = true; more; ) {
    const page = store.listResources('host', { limit: 500, cursor });
    for (const h of page.items) if (h.secret?.privateKey) runner.addSecret(String(h.secret.privateKey));
    cursor = page.nextCursor ?? undefined;
    more = !!page.nextCursor;
  }
  if (config.token) runner.addSecret(config.token);
  if (config.secretKey) for (const form of ['hex', 'base64', 'base64url'] as const) runner.addSecret(config.secretKey.toString(form));
  return { store, runner, hosts, config, storage: store };
}

/** At start-up: jobs a previous process left running can never finish; say so. */
export function recoverInterruptedJobs(store: Store): string[] {
  return store.interruptUnfinishedJobs('the service stopped while this job was running (or before its outcome could be saved: the store was failing); its host state may be partial: run the request again (steps converge) or delete the resource');
}
