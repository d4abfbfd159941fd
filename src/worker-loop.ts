/**
 * The worker's loop: claims jobs that serverless functions queued (leases.claimNext: `FOR UPDATE SKIP LOCKED`, so
 * several workers never take the same job), finds their work from their rows (api/resume.ts) and runs them under the
 * claimed lease — renewed by the heartbeat; if this worker dies, another replica's lease sweep interrupts the job, as
 * for any replica. Each finished job answers its Idempotency-Keys.
 */
import { answerIdempotencyKeys } from './api/mutation.js';
import { RESUMABLE_KINDS, resumeJob } from './api/resume.js';
import type { AppDeps } from './deps.js';
import { toProblem } from './jobs/runner.js';
import { nowIso } from './jobs/records.js';

export interface WorkerLoopOptions {
  /** Jobs run at once (default 8). */
  concurrency?: number;
  /** How long to wait before looking again when the queue is empty (default 500 ms). */
  idlePollMs?: number;
  /** Stop when this says so (checked between claims); running jobs are waited for. */
  shouldStop?: () => boolean;
  /** Return as soon as the queue is empty (a scheduled function, a test) instead of polling on. */
  untilIdle?: boolean;
  log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs queued jobs until told to stop (or, with untilIdle, until none is left); resolves with how many it ran. */
export async function runQueuedJobs(deps: AppDeps, opts: WorkerLoopOptions = {}): Promise<number> {
  const leases = deps.coordination.leases;
  if (!leases) throw new Error('a worker needs the PostgreSQL store (NETPLUMB_DB=postgres://…): it claims jobs with leases');
  const concurrency = opts.concurrency ?? 8;
  const running = new Set<Promise<void>>();
  let ran = 0;
  while (!opts.shouldStop?.()) {
    if (running.size >= concurrency) {
      await Promise.race(running);
      continue;
    }
    const lease = await leases.claimNext({ kinds: RESUMABLE_KINDS });
    if (!lease) {
      if (opts.untilIdle) break;
      await sleep(opts.idlePollMs ?? 500);
      continue;
    }
    const job = await deps.store.getJob(lease.jobId);
    if (!job) {
      lease.release();
      continue;
    }
    ran++;
    let resumed;
    try {
      resumed = await resumeJob(deps.store, job);
      if (!resumed) throw new Error(`jobs of kind ${job.kind} cannot be run by a worker`);
    } catch (e) {
      // Never silently dropped: the job fails with the reason, its resource too.
      await deps.store.tx(async () => {
        job.status = 'failed';
        job.finishedAt = nowIso();
        job.error = { ...toProblem(e, job.id) };
        await deps.store.updateJob(job);
        await deps.store.appendLog(job.id, { ts: job.finishedAt, host: null, stream: 'error', text: String((e as Error).message) });
        const rec = await deps.store.getResource(job.resource.id);
        if (rec && rec.jobId === job.id && rec.state !== 'ready')
          await deps.store.patchResource(rec.id, { state: 'failed', updatedAt: job.finishedAt }, rec.version);
        await answerIdempotencyKeys(deps.store, job, { successStatus: 200 });
      });
      lease.release();
      continue;
    }
    opts.log?.(`worker: running ${job.kind} ${job.id}`);
    const r = resumed;
    deps.runner.start(job, r.work, async (finished) => await answerIdempotencyKeys(deps.store, finished, r), r.lockMode, lease);
    const done: Promise<void> = deps.runner.wait(job.id, 24 * 3600_000).then(
      () => void running.delete(done),
      () => void running.delete(done),
    );
    running.add(done);
  }
  await Promise.all(running);
  return ran;
}
