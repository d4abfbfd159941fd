/**
 * How a failure to run commands on a host maps to a job's outcome and to its record's state: one decision, used by
 * plans (plan-runner.ts), reads (runner.ts readBatch) and the kinds that mark records (kinds/unknown.ts).
 *
 * - `unknown`: the host may have done some of it and nobody can tell: the connection was lost or the host could not
 *   be reached, a command or a batch timed out, a batch's output broke its framing (could not be parsed) or ended
 *   before the script did, or this replica lost the job's lease. The record stays, in state `unknown`, until the
 *   reconcile loop observes the host again.
 * - `failed`: what happened is known (a command's own failure, a refused key or host key, a wait that never got a
 *   channel, a bug): the record goes back to the state it had (or, for a create, goes).
 */
import { BatchFramingError, BatchIncompleteError } from '../exec/batch.js';
import { ExecError } from '../exec/errors.js';
import { ProblemError } from '../model/problems.js';

export type ExecOutcome = 'unknown' | 'failed';

/** The outcome a job that failed with `e` leaves on its hosts. */
export function execOutcome(e: unknown): ExecOutcome {
  if (e instanceof ExecError) return e.code === 'host-unreachable' || e.code === 'timeout' ? 'unknown' : 'failed';
  // Normally wrapped by hostExecError below; recognised bare too, so none is ever taken for a known failure.
  if (e instanceof BatchFramingError || e instanceof BatchIncompleteError) return 'unknown';
  // A replica that lost the job's lease mid-job stops there: what it had done is as unknown as after a lost connection.
  if (e instanceof ProblemError) {
    const t = e.problem.type;
    return t.endsWith('/command-timeout') || t.endsWith('/job-interrupted') ? 'unknown' : 'failed';
  }
  return 'failed';
}

/** The record's state after a job on it failed with `e`: `unknown`, or the state it had before. */
export function recordStateAfter<S extends string>(e: unknown, stateBefore: S): S | 'unknown' {
  return execOutcome(e) === 'unknown' ? 'unknown' : stateBefore;
}

/**
 * What an executor threw (running a batch on `hostName`) as the job reports it: an ExecError naming the host. A
 * batch whose output broke its framing or ended early is `host-unreachable`, as a lost connection is: its outcome is
 * unknown. An ExecError keeps its code. `message` replaces the error's own text; `unknownNote` is added when the
 * outcome is unknown. Anything else (not an executor error: a bug) is returned as it is.
 */
export function hostExecError(hostName: string, e: unknown, opts: { message?: string; unknownNote?: string } = {}): unknown {
  const code =
    e instanceof ExecError ? e.code : e instanceof BatchFramingError || e instanceof BatchIncompleteError ? 'host-unreachable' : null;
  if (code === null) return e;
  const note = opts.unknownNote && execOutcome(e) === 'unknown' ? ` (${opts.unknownNote})` : '';
  const details = e instanceof ExecError ? e.details : {};
  return new ExecError(code, `${hostName}: ${opts.message ?? (e as Error).message}${note}`, details, { cause: e });
}
