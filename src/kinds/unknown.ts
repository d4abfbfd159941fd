/**
 * Unknown outcomes: a step whose result never came back (lost connection, timeout) may have run on the host. The
 * record is kept in state `unknown` (never deleted: the host may have the objects, marked with its id) and resolved
 * once the host answers again (the reconcile loop, src/reconcile/loop.ts: observe, then finish or undo).
 */
import { execOutcome } from '../jobs/outcomes.js';
import { saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import type { Resource } from '../model/resource.js';

/** A failure after which what the host did is not known (the one decision: jobs/outcomes.ts execOutcome). */
export function isUnknownOutcome(e: unknown): boolean {
  return execOutcome(e) === 'unknown';
}

export async function markUnknown<D>(ctx: JobContext, r: Resource<D>, e: unknown): Promise<void> {
  if (!(await ctx.store.getResource(r.id))) return;
  await saveResource(ctx.store, r, { state: 'unknown' });
  ctx.log(
    null,
    'error',
    `the outcome on the host is unknown (${e instanceof Error ? e.message : String(e)}): ${r.id} stays, in state unknown, until the host answers again; then it is observed and finished or undone`,
  );
}
