/** The job runner: runs each job's work under per-host locks, writes its log, records its outcome. */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type Dockerode from 'dockerode';
import type { Executor } from '../exec/types.js';
import { byName, namedEntries } from '../exec/named.js';
import { runBatchOn, type BatchStepResult } from '../exec/batch.js';
import { ANY_EXIT, logStep, runPlanInBatches, STEP_TIMEOUT_MS, undoSteps, type PlanHosts } from './plan-runner.js';
import { ExecError } from '../exec/errors.js';
import type { HostServices, HostTarget } from '../exec/pool.js';
import { newId } from '../model/names.js';
import { ProblemError, problem, type Problem } from '../model/problems.js';
import type { Plan, Step } from '../ops/plan.js';
import type { JobRecord, JsonObject, LogLine, LogStream, Store } from '../store/types.js';
import { hostTarget } from './host-target.js';
import { hostExecError } from './outcomes.js';
import { HostLocks, type LockMode } from './locks.js';
import type { Coordination, HostLockService, LeaseHandle } from '../store/coordination.js';
import type { Redactor } from '../redact.js';
import { withDeferredWrites } from '../store/fault-tolerant.js';
import { describeFault, isStorageFault } from '../store/faults.js';
import type { Logger, Observability } from '../observability/index.js';
import { currentScope, inScope, newTraceId } from '../observability/trace.js';
import { boundedWait, shownWait, WaitBoard, WaitTimeoutError, withWaitBoard, type Wait } from '../exec/waits.js';

/** How long a job waits for its host locks before it fails with a timeout (a queue behind long jobs is normal). */
export const LOCK_WAIT_MS = 600_000;
/** Jobs that take no resource lock (see resourceKeys): a Docker endpoint's own veth and port. */
const DOCKER_ENDPOINT_JOBS = new Set(['docker.join', 'docker.leave']);

export interface JobRunnerOptions {
  /** The longest a job waits for its host locks. Default LOCK_WAIT_MS. */
  lockWaitMs?: number;
}

/** A host as a job sees it: its name (for logs) and how to reach it. */
export interface JobHost {
  id: string;
  name: string;
  target: HostTarget;
}

export interface JobContext {
  readonly job: JobRecord;
  readonly store: Store;
  /** The service log (events an operator watches: a host going down), as opposed to the job's own log (log()). */
  readonly logger: Logger;
  log(host: string | null, stream: LogStream, text: string, extra?: { exitCode?: number; ms?: number }): void;
  /** A host this job works on (read once per job). */
  host(id: string): JobHost;
  executor(hostId: string): Executor;
  docker(hostId: string): Dockerode;
  /** Closes a host's cached connections (it was deleted). */
  forgetHost(hostId: string): Promise<void>;
  /**
   * Makes sure the host's dockerd reaches the Docker plugin (its socket served or forwarded there) before a job runs
   * `docker network create`; a no-op where the service serves no plugin (tests with fake hosts).
   */
  servePlugin(hostId: string): Promise<void>;
  /** Runs argv on a host and logs it; a non-zero exit is returned, not thrown. */
  run(hostId: string, argv: readonly string[], opts?: { timeoutMs?: number }): Promise<BatchStepResult>;
  /** Runs named read-only commands on a host as one batch (one round trip) and logs each; results by name. */
  read<K extends string>(hostId: string, cmds: Record<K, readonly string[]>): Promise<Record<K, BatchStepResult>>;
  /** Runs the plan: each host's steps as one batch, hosts in parallel; on failure undoes the completed ones in reverse, then throws. */
  runPlan(plan: Plan): Promise<void>;
  addTotal(n: number): void;
}

export interface JobSpec {
  kind: string;
  resource: { type: string; id: string };
  hosts: string[];
  /** How it holds its hosts (default exclusive); see jobs/locks.ts. */
  lockMode?: LockMode;
  /** What its work needs besides the resource, stored with the job (JobRecord.params). */
  params?: JsonObject;
}

export type JobWork = (ctx: JobContext) => Promise<void>;
export type JobFinish = (job: JobRecord) => void | Promise<void>;

const MAX_LOG_TEXT = 16_384;

function now(): string {
  return new Date().toISOString();
}

/**
 * A new job row. It joins the trace of the request that makes it (its span becomes the job span's parent: a CI
 * run's traceparent finds its job); a job made outside any request (the reconcile loop) starts a trace of its own.
 */
export function newJob(spec: JobSpec): JobRecord {
  const scope = currentScope();
  return {
    id: newId('job'),
    kind: spec.kind,
    status: 'queued',
    resource: spec.resource,
    hosts: [...spec.hosts],
    progress: { done: 0, total: 0 },
    error: null,
    createdAt: now(),
    startedAt: null,
    finishedAt: null,
    params: spec.params ?? null,
    traceId: scope?.span.traceId ?? newTraceId(),
    parentSpanId: scope?.span.spanId ?? null,
  };
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Turns anything thrown inside a job into the problem the job fails with. */
export function toProblem(e: unknown, jobId: string): Problem {
  if (e instanceof ProblemError) return { ...e.problem, jobId };
  if (e instanceof WaitTimeoutError) return problem('timeout', `the job ${e.message}`, { jobId, waiting: e.wait });
  if (isStorageFault(e)) return problem('storage-unavailable', `the store failed while the job ran: ${describeFault(e)}`, { jobId });
  if (e instanceof ExecError) {
    if (e.code === 'host-key-mismatch') return problem('host-key-mismatch', e.message, { ...e.details, jobId });
    if (e.code === 'timeout') return problem('command-timeout', e.message, { jobId });
    // The key file or text cannot be used, or the host refused it: the same 422 as at registration.
    if (e.code === 'auth-failed') return problem('unusable-key', e.message, { jobId });
    return problem('host-unreachable', e.message, { jobId });
  }
  return problem('internal', 'the job failed unexpectedly; see its log', { jobId });
}

/** Serves the Docker plugin to a host's dockerd (src/docker-plugin.ts); set by the service that has one. */
export interface PluginServer {
  serve(hostId: string): Promise<void>;
}

export class JobRunner {
  /** Where jobs get the Docker plugin served on a host (ctx.servePlugin); none: nothing to serve. */
  pluginServer: PluginServer | null = null;
  private locks: HostLockService;
  private events = new EventEmitter();
  private running = new Map<string, Promise<void>>();
  private leases = new Map<string, LeaseHandle>();
  /** Also used by the API for problem responses and by the service log: one set of secrets for everything. */
  readonly redactor: Redactor;
  private queued = 0;
  private active = 0;
  /** What each job running here is waiting for right now (GET /jobs/{id} shows it). */
  private boards = new Map<string, WaitBoard>();

  constructor(
    private store: Store,
    private hosts: HostServices,
    private obs: Observability,
    /** Replicas (PostgreSQL): host locks, job leases and other replicas' log events; one process needs none. */
    private coordination: Pick<Coordination, 'hostLocks' | 'leases' | 'feed'> = {},
    private readonly options: JobRunnerOptions = {},
  ) {
    this.events.setMaxListeners(0);
    this.locks = coordination.hostLocks ?? new HostLocks();
    this.redactor = obs.redactor;
  }

  /** Jobs of this process waiting for their host locks, and running (metrics). */
  get counts(): { queued: number; running: number } {
    return { queued: this.queued, running: this.active };
  }

  /** Strings that must never reach a log line (private keys, tokens). */
  addSecret(s: string): void {
    this.redactor.add(s);
  }

  private redact(text: string): string {
    const t = this.redactor.text(text);
    return t.length > MAX_LOG_TEXT ? t.slice(0, MAX_LOG_TEXT) + ' …[truncated]' : t;
  }

  /**
   * Appends a line to a job's log. A job's writes (log lines, progress, outcome) go to the store one after another,
   * in the order they were made (inOrder), so lines keep their order and numbering on every store.
   */
  log(
    jobId: string,
    host: string | null,
    stream: LogStream,
    text: string,
    extra: { exitCode?: number; ms?: number } = {},
  ): Promise<LogLine> {
    const entry = this.redactor.deep({ ts: now(), host, stream, text: this.redact(text), ...extra });
    return this.inOrder(jobId, async () => {
      const line = await this.store.appendLog(jobId, entry);
      this.events.emit(`log:${jobId}`, line);
      return line;
    });
  }

  /** A job's pending writes, chained: each starts when the one before it settled. */
  private writes = new Map<string, Promise<unknown>>();

  /** Runs a store write of a job after the writes it made before (whatever their outcome). */
  private inOrder<T>(jobId: string, write: () => Promise<T>): Promise<T> {
    const before = this.writes.get(jobId) ?? Promise.resolve();
    const mine = before.then(write, write);
    const tail = mine.catch(() => undefined);
    this.writes.set(jobId, tail);
    void tail.then(() => {
      if (this.writes.get(jobId) === tail) this.writes.delete(jobId);
    });
    return mine;
  }

  /** A write made in the background (a log line, progress): its failure is reported, never unhandled. */
  private background(jobId: string, what: string, write: Promise<unknown>): void {
    write.catch((e: unknown) =>
      this.obs.logger.warn({ jobId, err: e instanceof Error ? e.message : String(e) }, `writing the job's ${what} failed`),
    );
  }

  onLog(jobId: string, fn: (l: LogLine) => void): () => void {
    this.events.on(`log:${jobId}`, fn);
    return () => this.events.off(`log:${jobId}`, fn);
  }

  onEnd(jobId: string, fn: (j: JobRecord) => void): () => void {
    this.events.on(`end:${jobId}`, fn);
    return () => this.events.off(`end:${jobId}`, fn);
  }

  /** Wakes fn when another replica writes to the job (a log line, its status); nothing on one process. */
  onRemoteActivity(jobId: string, fn: () => void): () => void {
    if (this.running.has(jobId) || !this.coordination.feed) return () => {};
    return this.coordination.feed.subscribe(jobId, fn);
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** What a job running in this process waits for now (a lock, a channel, a Docker lookup, a batch); null when it runs here no longer. */
  waiting(jobId: string): Wait[] | null {
    return this.boards.get(jobId)?.current() ?? null;
  }

  /** Starts a job whose row is already stored (status queued). */
  start(job: JobRecord, work: JobWork, onFinish?: JobFinish, lockMode: LockMode = 'exclusive', claimed?: LeaseHandle): void {
    // Store writes of the job are kept in memory when the store fails (never thrown at it); anything else that
    // escapes execute() is a bug, reported here so it can never become an unhandled rejection.
    // Replicas: the store leased the job to this replica when it inserted it; renew until the outcome is written.
    // A worker passes the lease it claimed the queued job with (leases.claimNext).
    const lease = claimed ?? this.coordination.leases?.hold(job.id);
    if (lease) this.leases.set(job.id, lease);
    this.queued++;
    const board = new WaitBoard();
    this.boards.set(job.id, board);
    const p = withDeferredWrites(job.id, () => withWaitBoard(board, () => this.execute(job, work, onFinish, lockMode)))
      .catch((e: unknown) => this.obs.logger.error({ jobId: job.id, err: e }, 'job ended outside its error handling (a bug)'))
      .finally(() => {
        this.running.delete(job.id);
        this.boards.delete(job.id);
        this.leases.delete(job.id);
        lease?.release();
      });
    this.running.set(job.id, p);
  }

  /** Resolves with the job when it finished, or as it is when `ms` ran out. */
  async wait(jobId: string, ms: number): Promise<JobRecord> {
    const done = (j: JobRecord | null) => !!j && j.status !== 'queued' && j.status !== 'running';
    const current = await this.store.getJob(jobId);
    if (done(current) || !this.running.has(jobId) || ms <= 0) return current!;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        void this.store.getJob(jobId).then(
          (j) => resolve(j ?? current!),
          () => resolve(current!),
        );
      }, ms);
      const off = this.onEnd(jobId, (j) => {
        clearTimeout(timer);
        off();
        resolve(j);
      });
    });
  }

  /** The jobs this process has started and not finished (waiting for locks or running). */
  unfinished(): string[] {
    return [...this.running.keys()];
  }

  /** Waits for every running job (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  /**
   * The job's locks, waited for at most lockWaitMs (shown on its board: whom it waits behind): its hosts in the job's
   * mode, and exclusively its resource and the topology that owns it (one job per resource at a time, whatever the
   * host lock mode: a DELETE that comes while a repair runs waits for it, then finds what the repair left).
   */
  private takeLocks(job: JobRecord, lockMode: LockMode): Promise<() => void> {
    const hosts = [...new Set(job.hosts)].sort();
    const holders = hosts.map((h) => `${h}: ${this.locks.describe?.(h) ?? 'held'}`).join('; ');
    // The wait is on the job's board from the start (its resource keys are read inside it).
    return boundedWait(
      {
        kind: 'lock',
        detail: `the ${lockMode} lock on host(s) ${hosts.join(', ')} (${holders})`,
        host: hosts.length === 1 ? hosts[0]! : null,
      },
      this.options.lockWaitMs ?? LOCK_WAIT_MS,
      async (signal) => await this.locks.acquire(job.hosts, lockMode, { owner: job.id, signal, exclusive: await this.resourceKeys(job) }),
    );
  }

  /** The lock keys of a job's resource: `resource:<id>`, and `topology:<name>` of the topology it is or belongs to. */
  private async resourceKeys(job: JobRecord): Promise<string[]> {
    // A Docker endpoint's join or leave is listed under its topology but changes only its own veth and port (disjoint
    // by construction, like attachments under a shared host lock): containers joining one network do not queue
    // behind each other, nor behind the topology, whose own jobs hold its hosts exclusively.
    if (DOCKER_ENDPOINT_JOBS.has(job.kind)) return [];
    const keys = [`resource:${job.resource.id}`];
    const record = await this.store.getResource(job.resource.id).catch(() => null);
    const data = record?.data;
    const topology =
      record?.type === 'topology'
        ? record.key
        : data && typeof data === 'object' && 'topology' in data && typeof data.topology === 'string'
          ? data.topology
          : null;
    if (topology) keys.push(`topology:${topology}`);
    return keys;
  }

  private async execute(job: JobRecord, work: JobWork, onFinish: JobFinish | undefined, lockMode: LockMode): Promise<void> {
    // A job that gave up waiting for its locks still runs its work, with hosts refused: the work's own failure path
    // then puts its records back (a create's record goes, a delete's returns to the state it had) exactly as when a
    // host cannot be reached, and no command is sent. The job fails with the timeout.
    let gaveUp: Error | null = null;
    let release: () => void = () => {};
    try {
      release = await this.takeLocks(job, lockMode);
    } catch (e) {
      gaveUp = e instanceof Error ? e : new Error(String(e));
    } finally {
      this.queued--;
    }
    // Replicas: the wait may have been long; renew the lease now, so a job given up meanwhile runs nothing here
    // (another replica already marked it interrupted; its verdict stands).
    if (!gaveUp && this.coordination.leases && !(await this.coordination.leases.confirm(job.id))) {
      release();
      this.events.emit(`end:${job.id}`, (await this.store.getJob(job.id)) ?? job);
      return;
    }
    // The job's span: a child of the request's (stored with the job, so a worker in another process continues it).
    const traceId = job.traceId ?? newTraceId();
    const span = this.obs.tracer.startSpan(`job ${job.kind}`, {
      ...(job.parentSpanId ? { parent: { traceId, spanId: job.parentSpanId, sampled: true } } : { traceId }),
      attributes: { 'netplumb.job.id': job.id, 'netplumb.job.kind': job.kind },
    });
    const log = this.obs.logger.child({ jobId: job.id, traceId: span.context.traceId, kind: job.kind });
    this.active++;
    const started = performance.now();
    try {
      await inScope({ span: span.context, jobId: job.id }, async () => {
        job.status = 'running';
        job.startedAt = now();
        await this.inOrder(job.id, async () => await this.store.updateJob(job));
        this.background(job.id, 'log', this.log(job.id, null, 'info', `${job.kind} ${job.resource.id} started`));
        log.info({ resource: job.resource, hosts: job.hosts }, 'job started');
        try {
          if (gaveUp)
            this.background(
              job.id,
              'log',
              this.log(job.id, null, 'error', `${errorText(gaveUp)}: no command is sent to any host; the job's records go back`),
            );
          await work(await this.context(job, gaveUp));
          if (gaveUp) throw gaveUp;
          job.status = 'succeeded';
          this.background(job.id, 'log', this.log(job.id, null, 'info', `${job.kind} succeeded`));
        } catch (thrown) {
          // A job that gave up on its locks fails with that, whatever its refused work threw on the way out.
          const e = gaveUp ?? thrown;
          job.status = 'failed';
          const p = toProblem(e, job.id);
          // Any field may quote a command's stderr or a name the caller chose: redact them all like a log line.
          job.error = this.redactor.deep(p);
          if (!(e instanceof ProblemError) && !(e instanceof ExecError) && !(e instanceof WaitTimeoutError)) {
            this.background(
              job.id,
              'log',
              this.log(job.id, null, 'error', `internal error: ${e instanceof Error ? e.message : String(e)}`),
            );
          }
          this.background(job.id, 'log', this.log(job.id, null, 'error', `${job.kind} failed: ${String(job.error.detail)}`));
          span.fail(String(job.error.type));
        }
        job.finishedAt = now();
        // After every line it wrote: the outcome is the job's last write.
        await this.inOrder(job.id, async () => await this.store.updateJob(job));
        try {
          await onFinish?.(job);
        } catch (e) {
          await this.log(job.id, null, 'error', `recording the outcome failed: ${e instanceof Error ? e.message : String(e)}`).catch(
            () => undefined,
          );
        }
      });
    } finally {
      this.active--;
      const seconds = (performance.now() - started) / 1000;
      const outcome = job.status === 'running' ? 'failed' : job.status;
      this.obs.metrics.jobs.inc({ kind: job.kind, outcome });
      this.obs.metrics.jobDuration.observe({ kind: job.kind, outcome }, seconds);
      const fields = { outcome, ms: Math.round(seconds * 1000), ...(job.error ? { problem: job.error.type } : {}) };
      if (outcome === 'succeeded') log.info(fields, 'job ended');
      else log.warn({ ...fields, detail: job.error?.detail }, 'job ended');
      span.setAttribute('netplumb.job.outcome', outcome);
      span.end();
      release();
      this.events.emit(`end:${job.id}`, job);
      this.store.forgetJob(job.id);
    }
  }

  /** A job whose lease another replica took over (it was declared interrupted) runs no more commands here. */
  private assertLease(jobId: string): void {
    if (this.leases.get(jobId)?.lost) {
      throw new ProblemError(
        'job-interrupted',
        "this replica lost the job's lease (it stalled past the lease time) and another replica interrupted it",
      );
    }
  }

  /** refused: every host access throws it (a job that gave up waiting for its locks runs only its failure path). */
  private async context(job: JobRecord, refused: Error | null = null): Promise<JobContext> {
    const store = this.store;
    // The job's hosts, read once before its work starts (the work then names them synchronously).
    const hostCache = new Map<string, JobHost | null>();
    for (const id of job.hosts) {
      const target = await hostTarget(store, id);
      // Replicas: a key registered through another replica is redacted here too.
      if (target?.connection.kind === 'ssh' && target.connection.privateKey) this.addSecret(target.connection.privateKey);
      hostCache.set(id, target ? { id, name: target.connection.label, target } : null);
    }
    const progress = () =>
      this.background(
        job.id,
        'progress',
        this.inOrder(job.id, async () => await store.updateJob(job)),
      );
    const planIo: PlanHosts = {
      executor: (hostId) => ctx.executor(hostId),
      hostName: (hostId) => ctx.host(hostId).name,
      log: (host, stream, text, extra) => ctx.log(host, stream, text, extra),
      completed: (n) => {
        job.progress.done += n;
        progress();
      },
    };
    const ctx: JobContext = {
      job,
      store,
      logger: this.obs.logger,
      log: (host, stream, text, extra) => this.background(job.id, 'log', this.log(job.id, host, stream, text, extra)),
      host: (id) => {
        const h = hostCache.get(id);
        if (h) return h;
        if (h === null) throw new ProblemError('not-found', `host ${id} no longer exists`);
        throw new ProblemError('internal', `host ${id} is not one of the hosts job ${job.id} holds`);
      },
      executor: (hostId) => {
        if (refused) throw refused;
        this.assertLease(job.id);
        return this.hosts.executor(ctx.host(hostId).target);
      },
      docker: (hostId) => {
        if (refused) throw refused;
        return this.hosts.docker(ctx.host(hostId).target);
      },
      forgetHost: (hostId) => this.hosts.forget(hostId),
      servePlugin: async (hostId) => await this.pluginServer?.serve(hostId),
      run: async (hostId, argv, opts = {}) => {
        const { name } = ctx.host(hostId);
        const [r] = await readBatch(ctx.executor(hostId), name, [argv], opts.timeoutMs ?? STEP_TIMEOUT_MS);
        logStep(planIo, hostId, argv, r!);
        return r!;
      },
      read: async (hostId, cmds) => {
        const { name } = ctx.host(hostId);
        const entries = namedEntries(cmds);
        const results = await readBatch(
          ctx.executor(hostId),
          name,
          entries.map(([, argv]) => argv),
          STEP_TIMEOUT_MS * entries.length,
        );
        results.forEach((r, i) => logStep(planIo, hostId, entries[i]![1], r));
        return byName(
          entries.map(([k]) => k),
          results,
        );
      },
      runPlan: async (plan) => {
        ctx.addTotal(plan.steps.length);
        await runPlanInBatches(planIo, plan);
      },
      addTotal: (n) => {
        job.progress.total += n;
        progress();
      },
    };
    return ctx;
  }
}

/** Undoes completed steps in reverse (batched per host); an undo that fails is logged and the rest still run. */
export function undo(ctx: JobContext, done: readonly Step[]): Promise<void> {
  return undoSteps(
    { executor: (h) => ctx.executor(h), hostName: (h) => ctx.host(h).name, log: (...a) => ctx.log(...a), completed: () => {} },
    done,
  );
}

/**
 * Read-only commands as one batch (every exit status lets it go on): one round trip for all of them. A host that
 * cannot be reached, or a batch whose output broke its framing, is an ExecError naming it (outcomes.ts hostExecError).
 */
async function readBatch(
  executor: Executor,
  hostName: string,
  argvs: (readonly string[])[],
  timeoutMs: number,
): Promise<BatchStepResult[]> {
  try {
    const r = await shownWait(
      { kind: 'batch', detail: `a batch of ${argvs.length} read(s) on ${hostName}`, host: hostName },
      timeoutMs,
      () =>
        runBatchOn(
          executor,
          argvs.map((argv) => ({ argv, okExitCodes: ANY_EXIT })),
          { timeoutMs },
        ),
    );
    if (r.results.length === argvs.length) return r.results;
    // Timed out part-way: the rest did not run; report them as timed out (a read is never re-sent).
    const missing = argvs
      .slice(r.results.length)
      .map((): BatchStepResult => ({ exitCode: 124, stdout: '', stderr: '', ms: 0, timedOut: true }));
    return [...r.results, ...missing];
  } catch (e) {
    // Say which host (the executor only knows its address); a broken or cut-short batch is an unknown outcome.
    throw hostExecError(hostName, e);
  }
}
