/** Wires store → host connections → job runner: shared by the server, the demo and the tests. */
import { HostPool, type ConnectionFactory } from './exec/pool.js';
import { LocalExecutor } from './exec/local.js';
import { SshExecutor } from './exec/ssh.js';
import { createDockerClient } from './docker/index.js';
import { JobRunner } from './jobs/runner.js';
import { closeInterruptedJob, interruptUnfinishedJobs } from './jobs/recovery.js';
import { answerIdempotencyKeys } from './api/mutation.js';
import type { AppConfig, AppDeps } from './deps.js';
import type { Store } from './store/types.js';
import type { Executor } from './exec/types.js';
import { hostTarget } from './jobs/host-target.js';
import { findHost } from './kinds/refs.js';
import { sealedSecretsStore } from './store/sealed-secrets.js';
import { FaultTolerantStore } from './store/fault-tolerant.js';
import { localCoordination, type Coordination } from './store/coordination.js';
import { timedStore } from './store/timed.js';
import { createObservability, type Observability } from './observability/index.js';
import { DockerPluginServer } from './docker-plugin.js';

/**
 * Real connections: a LocalExecutor, or one persistent SSH connection that also carries Docker. keyDir:
 * NETPLUMB_KEY_DIR, checked again each time a key file is read (a host registered before it was set).
 */
export function realConnections(opts: { keyDir?: string | undefined; warn?: (msg: string) => void } = {}): ConnectionFactory {
  return (spec) => {
    if (spec.kind === 'local') {
      return { executor: new LocalExecutor(), docker: () => createDockerClient({ kind: 'local', socketPath: spec.dockerSocket }) };
    }
    const ssh = new SshExecutor({
      address: spec.address,
      port: spec.port,
      user: spec.user,
      hostKeySha256: spec.hostKeySha256,
      ...(spec.privateKeyPath ? { privateKeyPath: spec.privateKeyPath, ...(opts.keyDir ? { keyDir: opts.keyDir } : {}) } : {}),
      ...(spec.privateKey ? { privateKey: spec.privateKey } : {}),
      ...(opts.warn ? { warn: opts.warn } : {}),
    });
    return { executor: ssh, docker: () => createDockerClient({ kind: 'ssh', executor: ssh, socketPath: spec.dockerSocket }) };
  };
}

export async function createDeps(
  rawStore: Store,
  config: AppConfig,
  /** Default: real local and SSH connections. */
  connections?: ConnectionFactory,
  /** Replicas on PostgreSQL (see replicas.ts); one process needs none. */
  coordination: Coordination = localCoordination(),
  /** Metrics, logs, traces; default: made from config (no log lines unless config.logLevel asks for them). */
  obs: Observability = createObservability({ logLevel: config.logLevel ?? 'silent', otlpEndpoint: config.otlpEndpoint }),
): Promise<AppDeps> {
  const log = obs.logger;
  const warn = (msg: string) => log.warn(msg);
  const store = new FaultTolerantStore(
    timedStore(await sealedSecretsStore(rawStore, config.secretKey, ['host'], warn), (...a) => obs.storeCall(...a)),
    {
      log: (msg) => log.error(msg),
    },
  );
  const hosts = new HostPool(connections ?? realConnections({ keyDir: config.keyDir, warn }), obs.exec);
  const runner = new JobRunner(store, hosts, obs, coordination, { lockWaitMs: config.lockWaitMs });
  // netplumb as Docker's network and IPAM plugin: served to a host's dockerd when a topology publishes a network there.
  const plugin = new DockerPluginServer({ store, runner, hosts, logger: log });
  runner.pluginServer = plugin;
  // Secrets already stored must be redacted from logs too.
  for (const h of await store.allResources('host')) if (typeof h.secret?.privateKey === 'string') runner.addSecret(h.secret.privateKey);
  if (config.token) runner.addSecret(config.token);
  if (config.secretKey) for (const form of ['hex', 'base64', 'base64url'] as const) runner.addSecret(config.secretKey.toString(form));
  if (config.metricsToken) runner.addSecret(config.metricsToken);
  obs.metrics.setSources({
    // Host NAMES label the series (never ids); facts are what the last probe found. A store that cannot be read
    // leaves them out rather than fail the scrape: /metrics must answer most when the store is down.
    hosts: async () =>
      (await readableHosts(store)).flatMap((h) => {
        const data = h.data as { name?: unknown; facts?: { reachable?: unknown; probedAt?: unknown } | null };
        if (typeof data.name !== 'string') return [];
        return [
          {
            host: data.name,
            reachable: typeof data.facts?.reachable === 'boolean' ? data.facts.reachable : null,
            probedAt: typeof data.facts?.probedAt === 'string' ? data.facts.probedAt : null,
          },
        ];
      }),
    connections: () => hosts.connectionStats().map((c) => ({ host: c.host, ...c.stats })),
    jobs: () => runner.counts,
    storage: () => {
      const h = store.health();
      return { writable: h.writable, pendingWrites: h.pendingWrites };
    },
  });
  return { store, runner, hosts, config, storage: store, coordination, obs, plugin, lifecycle: { draining: false } };
}

async function readableHosts(store: Store) {
  try {
    return await store.allResources('host');
  } catch {
    return [];
  }
}

/** At start-up: jobs a previous process left running are interrupted, and their Idempotency-Keys answer so. */
export function recoverInterruptedJobs(store: Store): Promise<string[]> {
  return interruptUnfinishedJobs(store, (job) => answerIdempotencyKeys(store, job, { successStatus: 200 }), INTERRUPTED_OR_UNSAVED);
}

/**
 * At shutdown, past its grace: this process's jobs still running are closed as `interrupted` now and their records
 * left `unknown` (the reconcile loop of the next start, or another replica, observes and resolves them), so nobody
 * waits for a lease to run out to learn it. Returns how many were closed.
 */
export function interruptJobsAtShutdown(store: Store, jobIds: readonly string[], graceS: number): Promise<number> {
  const reason = `the service shut down (SIGTERM) ${graceS} s after asking this job to finish, and it had not: its host state is unknown; the reconcile loop finishes or undoes it, or run the request again (it converges)`;
  return store.tx(async () => {
    let closed = 0;
    const now = new Date().toISOString();
    for (const id of jobIds) {
      const job = await store.getJob(id);
      if (!job || (job.status !== 'queued' && job.status !== 'running')) continue;
      await closeInterruptedJob(store, job, reason, now, (j) => answerIdempotencyKeys(store, j, { successStatus: 200 }));
      closed++;
    }
    return closed;
  });
}

const INTERRUPTED_OR_UNSAVED =
  'the service stopped while this job was running (or before its outcome could be saved: the store was failing); its host state is unknown: the reconcile loop finishes or undoes it, or run the request again (it converges), repair or delete the resource';

/** The pooled executor of a registered host (by name or id): for tools, benchmarks and tests. */
export async function hostExecutor(deps: Pick<AppDeps, 'store' | 'hosts'>, hostRef: string): Promise<Executor> {
  const host = await findHost(deps.store, hostRef);
  const target = host && (await hostTarget(deps.store, host.id));
  if (!target) throw new Error(`no host ${hostRef}`);
  return deps.hosts.executor(target);
}
