/**
 * The service's Prometheus metrics, on a Registry of its own (never prom-client's global one: several apps in one
 * process, as in the tests, must not share or clash). Labels are bounded by design: route templates, job kinds and
 * outcomes, resource kinds, store operations and host NAMES — never ids, paths as sent, or anything a caller types
 * freely. What the service can read when scraped (hosts' reachability, connections, store health) is read then
 * (sources); what happens (requests, jobs, batches) is counted as it happens.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the pool reports of one host's connection (exec/types.ts ExecutorStats), by host name. */
export interface ConnectionGauges {
  host: string;
  connected: boolean;
  connectionsOpened: number;
  channelsInUse: number;
  shellSessionsInUse: number;
}

/** Read at each scrape; each may be left out (a part the process does not have). */
export interface MetricSources {
  hosts?(): Promise<{ host: string; reachable: boolean | null; probedAt: string | null }[]>;
  connections?(): ConnectionGauges[];
  jobs?(): { queued: number; running: number };
  storage?(): { writable: boolean; pendingWrites: number };
  /** Replicas: whether this process leads the reconcile loop (undefined: no replicas). */
  leader?(): boolean | undefined;
}

const SECONDS_HTTP = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SECONDS_JOB = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const SECONDS_BATCH = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];
const SECONDS_STORE = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources = {};

  readonly httpDuration = new Histogram({
    name: 'netplumb_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status, and how long they took (_count: requests)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS_HTTP,
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'netplumb_jobs_total',
    help: 'Jobs ended, by kind and outcome (succeeded, failed, interrupted)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'netplumb_job_duration_seconds',
    help: 'Time from a job starting to run (its host locks held) to its end, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: SECONDS_JOB,
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'netplumb_host_batches_total',
    help: 'Batches sent to a host (one round trip each), by host name',
    labelNames: ['host'] as const,
    registers: [this.registry],
  });
  readonly commands = new Counter({
    name: 'netplumb_host_commands_total',
    help: 'Commands sent to a host (the steps of its batches, and single commands), by host name',
    labelNames: ['host'] as const,
    registers: [this.registry],
  });
  readonly batchDuration = new Histogram({
    name: 'netplumb_host_batch_duration_seconds',
    help: 'Round-trip time of a batch (or single command) on a host, by host name',
    labelNames: ['host'] as const,
    buckets: SECONDS_BATCH,
    registers: [this.registry],
  });
  readonly hostErrors = new Counter({
    name: 'netplumb_host_exec_errors_total',
    help: 'Batches or commands that could not be run on a host (unreachable, lost connection), by host name',
    labelNames: ['host'] as const,
    registers: [this.registry],
  });
  readonly reconcilePasses = new Counter({
    name: 'netplumb_reconcile_passes_total',
    help: 'Reconcile passes (a host observed and its drift repaired or reported)',
    registers: [this.registry],
  });
  readonly driftFound = new Counter({
    name: 'netplumb_reconcile_drift_found_total',
    help: 'Resources found drifted by a reconcile pass, by resource kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly driftRepaired = new Counter({
    name: 'netplumb_reconcile_drift_repaired_total',
    help: 'Drifted resources a reconcile job repaired, by resource kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly orphansFound = new Counter({
    name: 'netplumb_reconcile_orphans_found_total',
    help: 'Orphans (objects marked as netplumb-owned with no record) found by reconcile passes',
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'netplumb_store_call_duration_seconds',
    help: 'Store calls by operation, and how long they took',
    labelNames: ['op'] as const,
    buckets: SECONDS_STORE,
    registers: [this.registry],
  });
  readonly storageFaults = new Counter({
    name: 'netplumb_storage_faults_total',
    help: 'Store calls that failed with a storage fault (disk full, I/O error, database unreachable)',
    registers: [this.registry],
  });
  readonly idempotencyReplays = new Counter({
    name: 'netplumb_idempotency_replays_total',
    help: 'Requests answered with the stored response of an earlier one (same Idempotency-Key, same request)',
    registers: [this.registry],
  });
  readonly idempotencyConflicts = new Counter({
    name: 'netplumb_idempotency_conflicts_total',
    help: 'Idempotency-Key conflicts: reused (422, another request) or in-progress (409, the first still runs)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly leaseTakeovers = new Counter({
    name: 'netplumb_lease_takeovers_total',
    help: "Replicas: jobs whose replica's lease expired, marked interrupted by this replica",
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'netplumb_' });
      // Gauges prom-client names like counters (`promtool check metrics` flags them): left out.
      for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
        this.registry.removeSingleMetric(`netplumb_nodejs_${n}`);
    }
    const sources = () => this.sources;
    const registers = [this.registry];
    new Gauge({
      name: 'netplumb_jobs_queued',
      help: 'Jobs accepted by this process and waiting for their host locks',
      registers,
      collect() {
        const j = sources().jobs?.();
        if (j) this.set(j.queued);
      },
    });
    new Gauge({
      name: 'netplumb_jobs_running',
      help: 'Jobs running in this process',
      registers,
      collect() {
        const j = sources().jobs?.();
        if (j) this.set(j.running);
      },
    });
    new Gauge({
      name: 'netplumb_host_reachable',
      help: "1 when the host's last probe reached it, 0 when it did not (by host name; hosts never probed are left out)",
      labelNames: ['host'] as const,
      registers,
      async collect() {
        const hosts = (await sources().hosts?.()) ?? [];
        this.reset();
        for (const h of hosts) if (h.reachable !== null) this.set({ host: h.host }, h.reachable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'netplumb_host_last_probe_age_seconds',
      help: "Seconds since the host's last probe (by host name)",
      labelNames: ['host'] as const,
      registers,
      async collect() {
        const hosts = (await sources().hosts?.()) ?? [];
        this.reset();
        const now = Date.now();
        for (const h of hosts) {
          const at = h.probedAt ? Date.parse(h.probedAt) : NaN;
          if (Number.isFinite(at)) this.set({ host: h.host }, Math.max(0, (now - at) / 1000));
        }
      },
    });
    const perConnection = (name: string, help: string, pick: (c: ConnectionGauges) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['host'] as const,
        registers,
        collect() {
          this.reset();
          for (const c of sources().connections?.() ?? []) this.set({ host: c.host }, pick(c));
        },
      });
    perConnection('netplumb_host_ssh_connected', '1 while the SSH connection to the host is up (by host name)', (c) =>
      c.connected ? 1 : 0,
    );
    perConnection(
      'netplumb_host_ssh_connections_opened',
      'SSH connections opened to the host since its executor was made (a reconnect adds one)',
      (c) => c.connectionsOpened,
    );
    perConnection(
      'netplumb_host_ssh_channels_in_use',
      'SSH channels open on the host now (commands, shell sessions, streams)',
      (c) => c.channelsInUse,
    );
    perConnection(
      'netplumb_host_shell_sessions_in_use',
      'Persistent shell sessions running a batch on the host now',
      (c) => c.shellSessionsInUse,
    );
    new Gauge({
      name: 'netplumb_store_writable',
      help: '1 while the store takes writes; 0 while it fails (writes of running jobs are kept in memory meanwhile)',
      registers,
      collect() {
        const s = sources().storage?.();
        if (s) this.set(s.writable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'netplumb_store_pending_writes',
      help: 'Job writes kept in memory, waiting for the store to take writes again',
      registers,
      collect() {
        const s = sources().storage?.();
        if (s) this.set(s.pendingWrites);
      },
    });
    new Gauge({
      name: 'netplumb_reconcile_leader',
      help: 'Replicas: 1 while this replica leads the reconcile loop (one process: always 1 when the loop runs)',
      registers,
      collect() {
        const l = sources().leader?.();
        if (l !== undefined) this.set(l ? 1 : 0);
      },
    });
  }

  /** Where scrape-time values come from (set once the parts exist: the store, the pool, the runner). */
  setSources(s: MetricSources): void {
    this.sources = { ...this.sources, ...s };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
