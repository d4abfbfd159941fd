/** Start-up recovery: jobs a previous process left queued or running can never finish; say so everywhere. */
import { problem } from '../model/problems.js';
import type { JobRecord, Store } from '../store/types.js';
import { nowIso } from './records.js';

export const INTERRUPTED_REASON =
  'the service stopped while this job was running; its host state is unknown: the reconcile loop finishes or undoes it, or run the request again (it converges), repair or delete the resource';

/**
 * Each unfinished job becomes `interrupted` with a log line; the resource it was working on becomes `unknown` (what
 * the host has is not known: the reconcile loop observes it and finishes or undoes the job; it can also be repaired or
 * deleted). `answer` is called for each job so the caller can store what its
 * Idempotency-Keys now answer. Returns the interrupted jobs' ids.
 */
export function interruptUnfinishedJobs(
  store: Store,
  answer: (job: JobRecord) => Promise<void> | void = () => {},
  reason = INTERRUPTED_REASON,
): Promise<string[]> {
  return store.tx(async () => {
    const jobs = await store.jobsWithStatus(['queued', 'running']);
    const now = nowIso();
    for (const job of jobs) await closeInterruptedJob(store, job, reason, now, answer);
    return jobs.map((j) => j.id);
  });
}

/**
 * One unfinished job closed as `interrupted` (in the caller's transaction): the job, its log line, its resource
 * `unknown` (unless it had settled), its Idempotency-Keys' answer. Also used when a replica's lease ran out
 * (lease-recovery.ts): the same verdict, whoever gives it.
 */
export async function closeInterruptedJob(
  store: Store,
  job: JobRecord,
  reason: string,
  now: string,
  answer: (job: JobRecord) => Promise<void> | void,
): Promise<void> {
  job.status = 'interrupted';
  job.finishedAt = now;
  job.error = problem('job-interrupted', reason, { jobId: job.id });
  await store.updateJob(job);
  await store.appendLog(job.id, { ts: now, host: null, stream: 'error', text: reason });
  const rec = await store.getResource(job.resource.id);
  if (rec && rec.jobId === job.id && rec.state !== 'ready')
    await store.patchResource(rec.id, { state: 'unknown', updatedAt: now }, rec.version);
  await answer(job);
}
