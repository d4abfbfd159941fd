/** The job runner: runs each job's work under per-host locks, writes its log, records its outcome. */
import { EventEmitter } from 'node:events';
import type { Executor, RunResult } from '../exec/types.js';
import { ExecError } from '../exec/errors.js';
import { quoteArgv } from '../exec/quote.js';
import { newId } from '../model/names.js';
import { ProblemError, problem, type Problem } from '../model/problems.js';
import type { Plan, Step } from '../ops/plan.js';
import type { JobRecord, LogLine, LogStream, ResourceRecord, Store } from '../store/types.js';
import { HostLocks } from './locks.js';
import { Redactor } from '../redact.js';
import { withDeferredWrites } from '../store/fault-tolerant.js';
import { describeFault, isStorageFault } from '../store/faults.js';

export interface HostAccess {
  /** The executor for a host id (cached, persistent). */
  executor(host: ResourceRecord): Executor;
}

export interface JobContext {
  readonly job: JobRecord;
  readonly store: Store;
  log(host: string | null, stream: LogStream, text: string, extra?: { exitCode?: number; ms?: number }): void;
  host(id: string): ResourceRecord;
  /** Runs argv on a host and logs it; a non-zero exit is returned, not thrown. */
  run(hostId: string, argv: readonly string[], opts?: { timeoutMs?: number; quiet?: boolean }): Promise<RunResult>;
  /** Like run, but a non-zero exit throws a command-failed problem. */
  check(hostId: string, argv: readonly string[], what: string, opts?: { timeoutMs?: number; quiet?: boolean }): Promise<RunResult>;
  /** Runs the plan's steps in order; on failure undoes the completed ones in reverse, then throws. */
  runPlan(plan: Plan): Promise<void>;
  addTotal(n: number): void;
}

export interface JobSpec {
  kind: string;
  resource: { type: string; id: string };
  hosts: string[];
}

export type JobWork = (ctx: JobContext) => Promise<void>;
export type JobFinish = (job: JobRecord) => void;

const MAX_LOG_TEXT = 16_384;

function now(): string {
  return new Date().toISOString();
}

export function newJob(spec: JobSpec): JobRecord {
  return {
    id: newId('job'), kind: spec.kind, status: 'queued', resource: spec.resource, hosts: [...spec.hosts],
    progress: { done: 0, total: 0 }, error: null, createdAt: now(), startedAt: null, finishedAt: null,
  };
}

/** Turns anything thrown inside a job into the problem the job fails with. */
export function toProblem(e: unknown, jobId: string): Problem {
  if (e instanceof ProblemError) return { ...e.problem, jobId };
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

export class JobRunner {
  private locks = new HostLocks();
  private events = new EventEmitter();
  private running = new Map<string, Promise<void>>();
  /** Also used by the API for problem responses: one set of secrets for everything stored or answered. */
  readonly redactor = new Redactor();

  constructor(
    private store: Store,
    private hosts: HostAccess,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Strings that must never reach a log line (private keys, tokens). */
  addSecret(s: string): void {
    this.redactor.add(s);
  }

  private redact(text: string): string {
    const t = this.redactor.text(text);
    return t.length > MAX_LOG_TEXT ? t.slice(0, MAX_LOG_TEXT) + ' …[truncated]' : t;
  }

  log(jobId: string, host: string | null, stream: LogStream, text: string, extra: { exitCode?: number; ms?: number } = {}): LogLine {
    const line = this.store.appendLog(jobId, this.redactor.deep({ ts: now(), host, stream, text: this.redact(text), ...extra }));
    this.events.emit(`log:${jobId}`, line);
    return line;
  }

  onLog(jobId: string, fn: (l: LogLine) => void): () => void {
    this.events.on(`log:${jobId}`, fn);
    return () => this.events.off(`log:${jobId}`, fn);
  }

  onEnd(jobId: string, fn: (j: JobRecord) => void): () => void {
    this.events.on(`end:${jobId}`, fn);
    return () => this.events.off(`end:${jobId}`, fn);
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** Starts a job whose row is already stored (status queued). */
  start(job: JobRecord, work: JobWork, onFinish?: JobFinish): void {
    // Store writes of the job are kept in memory when the store fails (never thrown at it); anything else that
    // escapes execute() is a bug, reported here so it can never become an unhandled rejection.
    const p = withDeferredWrites(job.id, () => this.execute(job, work, onFinish))
      .catch((e) => console.error(`netplumb: job ${job.id} ended outside its error handling (a bug):`, e))
      .finally(() => this.running.delete(job.id));
    this.running.set(job.id, p);
  }

  /** Resolves with the job when it finished, or as it is when `ms` ran out. */
  async wait(jobId: string, ms: number): Promise<JobRecord> {
    const done = (j: JobRecord | null) => !!j && j.status !== 'queued' && j.status !== 'running';
    const current = this.store.getJob(jobId);
    if (done(current) || !this.running.has(jobId) || ms <= 0) return current!;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { off(); resolve(this.store.getJob(jobId)!); }, ms);
      const off = this.onEnd(jobId, (j) => { clearTimeout(timer); off(); resolve(j); });
    });
  }

  /** Waits for every running job (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  private async execute(job: JobRecord, work: JobWork, onFinish?: JobFinish): Promise<void> {
    const release = await this.locks.acquire(job.hosts);
    try {
      job.status = 'running';
      job.startedAt = now();
      this.store.updateJob(job);
      this.log(job.id, null, 'info', `${job.kind} ${job.resource.id} started`);
      try {
        await work(this.context(job));
        job.status = 'succeeded';
        this.log(job.id, null, 'info', `${job.kind} succeeded`);
      } catch (e) {
        job.status = 'failed';
        const p = toProblem(e, job.id);
        // Any field may quote a command's stderr or a name the caller chose: redact them all like a log line.
        job.error = this.redactor.deep(p);
        if (!(e instanceof ProblemError) && !(e instanceof ExecError)) {
          this.log(job.id, null, 'error', `internal error: ${e instanceof Error ? e.message : String(e)}`);
        }
        this.log(job.id, null, 'error', `${job.kind} failed: ${job.error.detail}`);
      }
      job.finishedAt = now();
      this.store.updateJob(job);
      try {
        onFinish?.(job);
      } catch (e) {
        this.log(job.id, null, 'error', `recording the outcome failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    } finally {
      release();
      this.events.emit(`end:${job.id}`, job);
      this.store.forgetJob(job.id);
    }
  }

  private context(job: JobRecord): JobContext {
    const store = this.store;
    const hostCache = new Map<string, ResourceRecord>();
    const ctx: JobContext = {
      job,
      store,
      log: (host, stream, text, extra) => void this.log(job.id, host, stream, text, extra),
      host: (id) => {
        let h = hostCache.get(id);
        if (!h) {
          h = store.getResource(id) ?? undefined;
          if (!h || h.type !== 'host') throw new ProblemError('not-found', `host ${id} no longer exists`);
          hostCache.set(id, h);
        }
        return h;
      },
      run: async (hostId, argv, opts = {}) => {
        const host = ctx.host(hostId);
        const name = (host.data as { name: string }).name;
        if (!opts.quiet) ctx.log(name, 'cmd', quoteArgv(argv));
        let r: RunResult;
        try {
          r = await this.hosts.executor(host).run(argv, { timeoutMs: opts.timeoutMs ?? 30_000 });
        } catch (e) {
          // Say which host: the executor only knows its address.
          if (e instanceof ExecError) throw new ExecError(e.code, `${name}: ${e.message}`, e.details);
          throw e;
        }
        if (!opts.quiet || r.exitCode !== 0) {
          if (opts.quiet) ctx.log(name, 'cmd', quoteArgv(argv));
          if (r.stdout.trim()) ctx.log(name, 'stdout', r.stdout.trimEnd());
          if (r.stderr.trim()) ctx.log(name, 'stderr', r.stderr.trimEnd());
          ctx.log(name, 'info', r.timedOut ? `timed out after ${Math.round(r.ms)} ms` : `exit ${r.exitCode}`, { exitCode: r.exitCode, ms: Math.round(r.ms * 10) / 10 });
        }
        return r;
      },
      check: async (hostId, argv, what, opts) => {
        const r = await ctx.run(hostId, argv, opts);
        if (r.timedOut || r.exitCode !== 0) throw commandFailed(ctx, hostId, what, argv, r);
        return r;
      },
      runPlan: async (plan) => {
        ctx.addTotal(plan.steps.length);
        const done: Step[] = [];
        try {
          for (const s of plan.steps) {
            const r = await ctx.run(s.host, s.argv);
            if (r.timedOut || !(s.okExitCodes ?? [0]).includes(r.exitCode)) throw commandFailed(ctx, s.host, s.description, s.argv, r);
            done.push(s);
            job.progress.done += 1;
            store.updateJob(job);
          }
        } catch (e) {
          await undo(ctx, done);
          throw e;
        }
      },
      addTotal: (n) => {
        job.progress.total += n;
        store.updateJob(job);
      },
    };
    return ctx;
  }
}

function hostName(ctx: JobContext, id: string): string {
  return (ctx.host(id).data as { name: string }).name;
}

function commandFailed(ctx: JobContext, hostId: string, what: string, argv: readonly string[], r: RunResult): ProblemError {
  const name = hostName(ctx, hostId);
  if (r.timedOut) return new ProblemError('command-timeout', `${what}: timed out on ${name}`);
  const err = r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
  return new ProblemError('command-failed', `${what} failed on ${name} (exit ${r.exitCode})${err ? `: ${err}` : ''}`, {
    host: name, command: argv[0], exitCode: r.exitCode,
  });
}

/** Undoes completed steps in reverse; an undo that fails is logged and the rest still run. */
export async function undo(ctx: JobContext, done: Step[]): Promise<void> {
  const todo = done.filter((s) => s.undo).reverse();
  if (!todo.length) return;
  ctx.log(null, 'info', `undoing ${todo.length} completed step(s) in reverse`);
  for (const s of todo) {
    try {
      const r = await ctx.run(s.host, s.undo!);
      if (r.exitCode !== 0) ctx.log(hostName(ctx, s.host), 'error', `undo of "${s.description}" failed (exit ${r.exitCode})`);
    } catch (e) {
      ctx.log(null, 'error', `undo of "${s.description}" failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
