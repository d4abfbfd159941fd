/**
 * Runs a plan as batches: each host's steps go to that host as one batch (one round trip, one shell start), hosts in
 * parallel. Each step is still logged as its own `cmd` / stdout / stderr / exit lines, exactly as a step run alone.
 * Every host's batch is settled before anything else happens: on any failure (a step's, a lost connection, a batch
 * whose output broke its framing, a bug) the completed steps are logged and undone in reverse on every host (also as
 * batches) and the job fails, naming the step. A step never runs twice: nothing is retried.
 */
import { BatchIncompleteError, runBatchOn, type BatchStep, type BatchStepResult } from '../exec/batch.js';
import type { Executor } from '../exec/types.js';
import { quoteArgv } from '../exec/quote.js';
import { shownWait, WaitTimeoutError } from '../exec/waits.js';
import { ProblemError } from '../model/problems.js';
import type { Plan, Step } from '../ops/plan.js';
import type { LogStream } from '../store/types.js';
import { execOutcome, hostExecError } from './outcomes.js';

/** What the plan runner needs from its job. */
export interface PlanHosts {
  executor(hostId: string): Executor;
  hostName(hostId: string): string;
  log(host: string | null, stream: LogStream, text: string, extra?: { exitCode?: number; ms?: number }): void;
  /** Called as steps complete (job progress). */
  completed(n: number): void;
}

/** A step's budget; a batch gets one per step, capped. */
export const STEP_TIMEOUT_MS = 30_000;
const MAX_BATCH_TIMEOUT_MS = 300_000;
/** Every exit status: an undo batch goes on past a failed undo (it is logged, and the rest still run). */
export const ANY_EXIT = Array.from({ length: 256 }, (_, i) => i);

function batchTimeout(steps: number): number {
  return Math.min(STEP_TIMEOUT_MS * Math.max(1, steps), MAX_BATCH_TIMEOUT_MS);
}

/** Steps per host, in plan order; hosts in the order they first appear. */
export function stepsByHost<S extends Step>(steps: readonly S[]): Map<string, S[]> {
  const byHost = new Map<string, S[]>();
  for (const s of steps) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
  return byHost;
}

/** How a step reads in the log: its argv as quoted for the host, and what it is fed, as a heredoc. */
export function commandLine(argv: readonly string[], stdin?: string): string {
  const line = quoteArgv(argv);
  return stdin ? `${line} <<'EOF'\n${stdin.endsWith('\n') ? stdin : `${stdin}\n`}EOF` : line;
}

/** The lines a step run alone logs: its command, its output, its exit (with time). */
export function logStep(io: PlanHosts, hostId: string, argv: readonly string[], r: BatchStepResult, stdin?: string): void {
  const name = io.hostName(hostId);
  io.log(name, 'cmd', commandLine(argv, stdin));
  if (r.stdout.trim()) io.log(name, 'stdout', r.stdout.trimEnd());
  if (r.stderr.trim()) io.log(name, 'stderr', r.stderr.trimEnd());
  io.log(name, 'info', r.timedOut ? `timed out after ${Math.round(r.ms)} ms` : `exit ${r.exitCode}`, {
    exitCode: r.exitCode,
    ms: Math.round(r.ms * 10) / 10,
  });
}

export function commandFailed(
  hostName: string,
  step: Pick<Step, 'description' | 'argv'>,
  r: Pick<BatchStepResult, 'timedOut' | 'exitCode' | 'stderr'>,
): ProblemError {
  if (r.timedOut) return new ProblemError('command-timeout', `${step.description}: timed out on ${hostName}`);
  const err = r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
  return new ProblemError('command-failed', `${step.description} failed on ${hostName} (exit ${r.exitCode})${err ? `: ${err}` : ''}`, {
    host: hostName,
    command: step.argv[0],
    exitCode: r.exitCode,
  });
}

interface HostOutcome {
  hostId: string;
  steps: Step[];
  /** Results of the steps that ran and finished (in order). */
  results: BatchStepResult[];
  /** Steps known to have completed with an ok status. */
  done: Step[];
  error: Error | null;
}

async function runHost(io: PlanHosts, hostId: string, steps: Step[]): Promise<HostOutcome> {
  const batch: BatchStep[] = steps.map((s) => ({
    argv: s.argv,
    okExitCodes: s.okExitCodes ?? [0],
    ...(s.stdin !== undefined ? { stdin: s.stdin } : {}),
  }));
  const name = io.hostName(hostId);
  try {
    const timeoutMs = batchTimeout(steps.length);
    const r = await shownWait({ kind: 'batch', detail: `a batch of ${steps.length} step(s) on ${name}`, host: name }, timeoutMs, () =>
      runBatchOn(io.executor(hostId), batch, { timeoutMs }),
    );
    const failed = r.stoppedAt;
    const done = steps.slice(0, failed ?? r.results.length);
    const error =
      failed !== null
        ? commandFailed(name, steps[failed]!, r.results[failed]!)
        : r.timedOut
          ? new ProblemError('command-timeout', `a batch of ${steps.length} step(s) timed out on ${name}`)
          : null;
    return { hostId, steps, results: r.results, done, error };
  } catch (e) {
    if (e instanceof WaitTimeoutError) {
      // It never got a channel: nothing was sent to the host.
      return { hostId, steps, results: [], done: [], error: e };
    }
    if (e instanceof BatchIncompleteError) {
      const unknown = e.runningStep === null ? '' : `; the outcome of "${steps[e.runningStep]!.description}" is unknown`;
      const message = `the batch ended after ${e.results.length} of ${steps.length} step(s)${unknown}`;
      const error = hostExecError(name, e, { message }) as Error;
      return { hostId, steps, results: e.results, done: steps.slice(0, e.results.length), error };
    }
    // No usable output (a lost connection, or output that broke its framing): which steps ran is unknown (none is
    // retried, none is undone here). Anything else (not the executor's: a bug) fails the job as it is, once every
    // other host's batch has settled and been undone.
    const error = hostExecError(name, e, { unknownNote: `the outcome of ${steps.length} step(s) is unknown` });
    return { hostId, steps, results: [], done: [], error: error instanceof Error ? error : new Error(String(error)) };
  }
}

/**
 * Runs the plan; on failure undoes what completed (every host) and throws the first failure in plan order (the first
 * unknown outcome when there is one: see outcomes.ts).
 */
export async function runPlanInBatches(io: PlanHosts, plan: Plan): Promise<void> {
  const byHost = stepsByHost(plan.steps);
  const hosts = [...byHost];
  // Settle every host: one host's failure never leaves another's completed steps unlogged or not undone.
  const settled = await Promise.allSettled(hosts.map(([hostId, steps]) => runHost(io, hostId, steps)));
  const outcomes = settled.map((s, i): HostOutcome => {
    if (s.status === 'fulfilled') return s.value;
    const [hostId, steps] = hosts[i]!;
    const error = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
    return { hostId, steps, results: [], done: [], error };
  });
  for (const o of outcomes) {
    o.results.forEach((r, i) => logStep(io, o.hostId, o.steps[i]!.argv, r, o.steps[i]!.stdin));
    io.completed(o.done.length);
  }
  const failures = outcomes.filter((o) => o.error);
  if (!failures.length) return;
  // The job fails with the first failure in plan order, unless another host's outcome is unknown: then with that one,
  // so the record is kept `unknown` (a known failure on one host says nothing of what another did). The rest are logged.
  const failed = failures.find((o) => execOutcome(o.error) === 'unknown') ?? failures[0]!;
  for (const o of failures) if (o !== failed) io.log(null, 'error', o.error!.message);
  // Undo in reverse plan order: per host that is the reverse of its own steps. A failed step that may have stopped
  // half-way (a merged batch) is undone too.
  const done = new Set(outcomes.flatMap((o) => o.done));
  for (const o of outcomes) {
    const stopped = o.steps[o.done.length];
    if (o.error && stopped?.undoWhenFailed && o.results.length > o.done.length) done.add(stopped);
  }
  await undoSteps(
    io,
    plan.steps.filter((s) => done.has(s)),
  );
  throw failed.error!;
}

/** Undoes completed steps in reverse, each host's as one batch (hosts in parallel); a failed undo is logged and the rest still run. */
export async function undoSteps(io: PlanHosts, done: readonly Step[]): Promise<void> {
  const todo = done.filter((s): s is Step & { undo: string[] } => !!s.undo).reverse();
  if (!todo.length) return;
  io.log(null, 'info', `undoing ${todo.length} completed step(s) in reverse`);
  await Promise.all(
    [...stepsByHost(todo)].map(async ([hostId, steps]) => {
      const name = io.hostName(hostId);
      try {
        const r = await runBatchOn(
          io.executor(hostId),
          steps.map((s) => ({ argv: s.undo, okExitCodes: ANY_EXIT, ...(s.undoStdin !== undefined ? { stdin: s.undoStdin } : {}) })),
          { timeoutMs: batchTimeout(steps.length) },
        );
        r.results.forEach((res, i) => {
          logStep(io, hostId, steps[i]!.undo, res, steps[i]!.undoStdin);
          if (res.exitCode !== 0) io.log(name, 'error', `undo of "${steps[i]!.description}" failed (exit ${res.exitCode})`);
        });
        for (const s of steps.slice(r.results.length))
          io.log(name, 'error', `undo of "${s.description}" did not run (the batch timed out)`);
      } catch (e) {
        const results = e instanceof BatchIncompleteError ? e.results : [];
        results.forEach((res, i) => logStep(io, hostId, steps[i]!.undo, res));
        io.log(
          null,
          'error',
          `undo on ${name} failed after ${results.length} of ${steps.length} step(s): ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }),
  );
}
