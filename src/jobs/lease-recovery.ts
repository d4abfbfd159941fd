/**
 * Replicas: a job whose lease expired (its replica died or stalled past the lease time) is closed by another
 * replica without waiting for a restart — the same verdict as the start-up recovery of one process (recovery.ts):
 * the job becomes `interrupted` with a log line saying which replica held it and when, and the resource it was
 * working on becomes `unknown` (the reconcile loop observes it and finishes or undoes it; it can be deleted). Its commands never run again.
 */
import type { ExpiredLease, JobLeases } from '../store/coordination.js';
import type { JobRecord, Store } from '../store/types.js';
import { nowIso } from './records.js';
import { closeInterruptedJob } from './recovery.js';

export function leaseExpiredReason(l: ExpiredLease, me: string): string {
  return (
    `replica ${l.previousOwner ?? '(none)'} stopped renewing this job's lease` +
    `${l.lastHeartbeat ? ` (last heartbeat ${l.lastHeartbeat}` : ' ('}${l.expiredAt ? `, expired ${l.expiredAt})` : ')'}; ` +
    `replica ${me} marked it interrupted at ${l.takenAt}: its host state may be partial: run the request again (steps converge) or delete the resource`
  );
}

/**
 * Closes one job whose lease was taken over (in one transaction). A job that finished meanwhile is left alone.
 * `answer` stores what its Idempotency-Keys now answer.
 */
export function interruptLeasedJob(
  store: Store,
  l: ExpiredLease,
  me: string,
  answer: (job: JobRecord) => Promise<void> | void,
): Promise<boolean> {
  return store.tx(async () => {
    const job = await store.getJob(l.jobId);
    if (!job || (job.status !== 'queued' && job.status !== 'running')) return false;
    await closeInterruptedJob(store, job, leaseExpiredReason(l, me), nowIso(), answer);
    return true;
  });
}

export interface LeaseReaper {
  /** One pass now (tests); resolves with the ids of the jobs it interrupted. */
  sweep(): Promise<string[]>;
  stop(): void;
}

/** Looks for expired leases every intervalMs (default leaseMs/4) and interrupts their jobs. */
export function startLeaseReaper(
  store: Store,
  leases: JobLeases,
  answer: (job: JobRecord) => void,
  opts: {
    intervalMs?: number;
    log?: (m: string) => void;
    /** A job whose lease expired was interrupted here (metrics). */ onTakeover?: (jobId: string) => void;
  } = {},
): LeaseReaper {
  const log = opts.log ?? ((m: string) => console.log(`netplumb: ${m}`));
  let running: Promise<string[]> | null = null;
  const sweep = (): Promise<string[]> =>
    (running ??= (async () => {
      const done: string[] = [];
      for (const l of await leases.takeExpired()) {
        if (await interruptLeasedJob(store, l, leases.replicaId, answer)) {
          done.push(l.jobId);
          opts.onTakeover?.(l.jobId);
          log(`job ${l.jobId}: the lease of replica ${l.previousOwner ?? '(none)'} expired; marked interrupted`);
        }
      }
      return done;
    })().finally(() => (running = null)));
  const timer = setInterval(
    () => void sweep().catch((e: Error) => log(`lease sweep failed (${e.message}); retrying`)),
    opts.intervalMs ?? Math.max(50, Math.floor(leases.leaseMs / 4)),
  );
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
