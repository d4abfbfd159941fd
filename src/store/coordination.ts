/**
 * What replicas coordinate beside the (synchronous) Store, asynchronously so that waiting never blocks the event
 * loop: per-host locks, job leases, and notifications that a job wrote something. One process on SQLite needs none
 * of it (the runner's in-process host locks; no leases: recovery at start-up; its own log events): an empty
 * Coordination. PostgreSQL provides all three (pg-coordination.ts). Keyed by plain strings: no domain here.
 */

export type HostLockMode = 'shared' | 'exclusive';

export interface HostLockOptions {
  /** Who takes the locks (a job id): named to those who wait behind it. */
  owner?: string;
  /** Gives up the wait: rejects with the signal's reason, and nothing stays taken. */
  signal?: AbortSignal;
  /**
   * More keys, taken exclusively whatever the mode (a job's resource and the topology that owns it: one job per
   * resource at a time). Taken with the hosts, all in one sorted order.
   */
  exclusive?: readonly string[];
}

export interface HostLockService {
  /** Takes every host's lock (sorted order: no deadlock); resolves with the release function. */
  acquire(hosts: readonly string[], mode?: HostLockMode, opts?: HostLockOptions): Promise<() => void>;
  /** Who holds a host's lock and how many wait, in words (for a job that waits on it). */
  describe?(host: string): string;
}

/** A lease this process holds on a job, renewed by the heartbeat until released. */
export interface LeaseHandle {
  readonly jobId: string;
  /** The heartbeat found the lease taken (it expired and another replica interrupted the job): stop working on it. */
  readonly lost: boolean;
  /** Stops renewing (after the job's outcome is written). */
  release(): void;
}

/** A lease that ran out while its job was unfinished, now taken over by this replica to close the job. */
export interface ExpiredLease {
  jobId: string;
  /** The replica that held it. */
  previousOwner: string | null;
  /** When its last heartbeat was, and when the lease ran out (ISO). */
  lastHeartbeat: string | null;
  expiredAt: string | null;
  /** Claims so far, this one included. */
  attempt: number;
  /** The database's clock when it was taken over (ISO). */
  takenAt: string;
}

export interface JobLeases {
  /** This replica: owner of the leases it takes. */
  readonly replicaId: string;
  /** A lease not renewed for this long has expired. */
  readonly leaseMs: number;
  /** Keeps renewing the lease this replica already owns on the job (its store leased it when inserting it). */
  hold(jobId: string): LeaseHandle;
  /** Renews this replica's lease on the job now; a lease found taken marks the held handle lost. */
  confirm(jobId: string): Promise<boolean>;
  /**
   * Claims the oldest queued job nobody owns (`FOR UPDATE SKIP LOCKED`: concurrent workers never take the same one)
   * and holds it; null when there is none. For worker processes that run jobs queued by others.
   */
  claimNext(opts?: { kinds?: readonly string[] }): Promise<LeaseHandle | null>;
  /**
   * Gives up this replica's lease on a job it inserted but will not run (a serverless function queueing it for a
   * worker): the job is claimable by claimNext. Call before holding it.
   */
  disown(jobId: string): Promise<void>;
  /** Takes over leases that expired on unfinished jobs, for the caller to mark the jobs interrupted. */
  takeExpired(): Promise<ExpiredLease[]>;
  /** The lease row of a job, as stored (tests, diagnostics). */
  describe(jobId: string): Promise<{ owner: string | null; attempt: number; expiresAt: string | null } | null>;
}

export interface JobFeed {
  /** Calls fn whenever any replica wrote to the job (a log line, its status); also after a reconnect. */
  subscribe(jobId: string, fn: () => void): () => void;
}

/** A duty one process does at a time across replicas (the reconcile loop): started while this process leads it. */
export interface Duty {
  start(): void;
  stop(): Promise<void>;
}

export interface Coordination {
  /**
   * Runs the duty while this process holds its lead: one process at a time across replicas; another takes over when
   * the leader dies (its database session ends). Without it (one process), the duty just runs.
   */
  lead?(duty: Duty): { close(): Promise<void> };
  hostLocks?: HostLockService;
  leases?: JobLeases;
  feed?: JobFeed;
  close(): Promise<void>;
}

/** One process on its own (SQLite): the runner's in-process locks and events are the whole story. */
export const localCoordination = (): Coordination => ({ close: async () => {} });
