/**
 * Replica coordination on PostgreSQL, with the async `pg` driver on the main thread (waiting never blocks the
 * event loop):
 * - Host locks: session-level advisory locks (shared or exclusive) on a pooled connection held for the whole job,
 *   hosts taken in sorted order. A replica that dies closes its connections, and PostgreSQL releases its locks.
 *   Within the replica the in-process locks are taken first, so one replica queues its own jobs in memory and
 *   holds at most one waiting connection per host and mode.
 * - Leases: a heartbeat renews every lease this replica holds in one UPDATE (every leaseMs/3); expired leases on
 *   unfinished jobs are taken over (`FOR UPDATE SKIP LOCKED`) by whichever replica looks first.
 * - Feed: LISTEN netplumb_jobs (the store NOTIFYs on each log line and job update) on one dedicated connection.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type {
  Duty,
  Coordination,
  ExpiredLease,
  HostLockMode,
  HostLockOptions,
  HostLockService,
  JobFeed,
  JobLeases,
  LeaseHandle,
} from './coordination.js';
import { ADVISORY } from './pg-schema.js';
import { JOB_CHANNEL } from './postgres.js';

/** A replica id that is unique and says where it runs: host:pid:random. */
export function newReplicaId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** 32-bit FNV-1a of a host id: the second key of its advisory lock (a collision only serialises two hosts). */
export function hostLockKey(host: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(host, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);

export interface PgCoordinationOptions {
  url: string;
  schema?: string;
  replicaId: string;
  leaseMs: number;
  /** Connections for held host locks and heartbeats (default 10). */
  poolMax?: number;
  /** In-process locks taken before the database's (the runner's HostLocks). */
  local: HostLockService;
  log?: (msg: string) => void;
}

export class PgCoordination implements Coordination {
  readonly hostLocks: HostLockService;
  readonly leases: PgLeases;
  readonly feed: PgFeed;
  private pool: pg.Pool;

  constructor(private opts: PgCoordinationOptions) {
    const options = opts.schema && opts.schema !== 'public' ? `-c search_path=${opts.schema}` : undefined;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 10,
      idleTimeoutMillis: 10_000,
      application_name: `netplumb coordination ${opts.replicaId}`,
      ...(options ? { options } : {}),
    });
    // An idle pooled connection that drops is replaced on the next checkout; nothing to do here.
    this.pool.on('error', () => {});
    const log = opts.log ?? ((m: string) => console.error(`netplumb: ${m}`));
    this.hostLocks = new PgHostLocks(this.pool, opts.local, log);
    this.leases = new PgLeases(this.pool, opts.replicaId, opts.leaseMs, log);
    this.feed = new PgFeed(opts.url, options, log);
  }

  /**
   * The lead: a session-level advisory lock on a connection of its own, tried every `retryMs`. Held, the duty runs;
   * the connection lost (the database restarted, the network dropped), the duty stops and the lock is tried again —
   * the database released it with the session, so another replica may have it by then.
   */
  lead(duty: Duty, retryMs = Math.max(1000, Math.floor(this.opts.leaseMs / 3))): { close(): Promise<void> } {
    const log = this.opts.log ?? ((m: string) => console.error(`netplumb: ${m}`));
    let closed = false;
    let leading = false;
    let client: pg.Client | null = null;
    let timer: NodeJS.Timeout | null = null;
    const options = this.opts.schema && this.opts.schema !== 'public' ? `-c search_path=${this.opts.schema}` : undefined;
    const lost = async () => {
      client = null;
      if (leading) {
        leading = false;
        log('lost the lead of the reconcile loop (database session ended): stopping it, trying again');
        await duty.stop();
      }
      if (!closed) timer = setTimeout(() => void attempt(), retryMs).unref();
    };
    const attempt = async () => {
      if (closed) return;
      const c = new pg.Client({
        connectionString: this.opts.url,
        application_name: `netplumb lead ${this.opts.replicaId}`,
        ...(options ? { options } : {}),
      });
      c.on('error', () => {});
      try {
        await c.connect();
        const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [ADVISORY.namespace, ADVISORY.leader]);
        if (!r.rows[0]?.ok || closed) {
          await c.end().catch(() => {});
          if (!closed) timer = setTimeout(() => void attempt(), retryMs).unref();
          return;
        }
        client = c;
        c.once('end', () => void lost());
        leading = true;
        duty.start();
      } catch {
        await c.end().catch(() => {});
        if (!closed) timer = setTimeout(() => void attempt(), retryMs).unref();
      }
    };
    void attempt();
    return {
      close: async () => {
        closed = true;
        if (timer) clearTimeout(timer);
        if (leading) {
          leading = false;
          await duty.stop();
        }
        await client?.end().catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    this.leases.stop();
    await this.feed.close();
    // Connections still checked out (a job holding host locks at shutdown) are not waited for long: exiting closes them.
    await Promise.race([this.pool.end().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

class PgHostLocks implements HostLockService {
  constructor(
    private pool: pg.Pool,
    private local: HostLockService,
    private log: (m: string) => void,
  ) {}

  async acquire(hosts: readonly string[], mode: HostLockMode = 'exclusive', opts: HostLockOptions = {}): Promise<() => void> {
    const exclusive = new Set(opts.exclusive ?? []);
    const sorted = [...new Set([...hosts, ...exclusive])].sort();
    const releaseLocal = await this.local.acquire(hosts, mode, opts);
    if (!sorted.length) return releaseLocal;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.take(sorted, (key) => (exclusive.has(key) ? 'exclusive' : mode), releaseLocal, opts.signal);
      } catch (e) {
        // The database is unreachable: keep waiting for it (the job is still queued; its lease is checked once the
        // locks are held, so a job given up meanwhile runs nothing). Anything else is a bug: let it surface.
        const code = (e as { code?: unknown }).code;
        if (
          opts.signal?.aborted ||
          (typeof code === 'string' && !/^(08...|57P0[1-3]|53300|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH)$/.test(code))
        ) {
          releaseLocal();
          throw opts.signal?.aborted ? opts.signal.reason : e;
        }
        if (attempt === 1) this.log(`cannot take host locks on ${sorted.join(', ')} (${(e as Error).message}); retrying every second`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  describe(host: string): string {
    return this.local.describe?.(host) ?? 'held by another replica or job';
  }

  private async take(
    sorted: string[],
    modeOf: (key: string) => HostLockMode,
    releaseLocal: () => void,
    signal?: AbortSignal,
  ): Promise<() => void> {
    let client: pg.PoolClient | undefined;
    let dropped = false;
    const drop = () => {
      if (dropped || !client) return;
      dropped = true;
      client.release(true); // destroying the connection ends its wait and releases whatever it took
    };
    // Giving up the wait (its bound): the connection waiting in pg_advisory_lock is dropped.
    const onAbort = () => drop();
    // The connection of held locks may drop (the database restarts): its locks are gone then. Say so loudly; the
    // job goes on (it cannot be stopped half-way safely) and the next query on the connection fails.
    const onError = (e: Error) =>
      this.log(`the connection holding host locks on ${sorted.join(', ')} dropped (${e.message}): those locks are released`);
    try {
      if (signal?.aborted) throw signal.reason;
      client = await this.pool.connect();
      client.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const h of sorted) {
        const fn = modeOf(h) === 'shared' ? 'pg_advisory_lock_shared' : 'pg_advisory_lock';
        await client.query(`SELECT ${fn}($1, $2)`, [ADVISORY.hosts, hostLockKey(h)]);
      }
      if (signal?.aborted) throw signal.reason;
    } catch (e) {
      signal?.removeEventListener('abort', onAbort);
      client?.off('error', onError);
      drop();
      throw e;
    }
    signal?.removeEventListener('abort', onAbort);
    const held = client;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held
        .query('SELECT pg_advisory_unlock_all()')
        .then(
          () => {
            held.off('error', onError);
            held.release();
          },
          (e: Error) => {
            held.off('error', onError);
            this.log(`releasing host locks failed (${e.message}): dropping the connection releases them`);
            held.release(true);
          },
        )
        .finally(releaseLocal);
    };
  }
}

class Handle implements LeaseHandle {
  lost = false;
  constructor(
    readonly jobId: string,
    private owner: PgLeases,
  ) {}
  release(): void {
    this.owner.drop(this);
  }
}

export class PgLeases implements JobLeases {
  private held = new Map<string, Handle>();
  private timer: NodeJS.Timeout | null = null;
  private beating = false;

  constructor(
    private pool: pg.Pool,
    readonly replicaId: string,
    readonly leaseMs: number,
    private log: (m: string) => void,
  ) {}

  hold(jobId: string): LeaseHandle {
    const h = new Handle(jobId, this);
    this.held.set(jobId, h);
    this.timer ??= setInterval(() => void this.beat(), Math.max(50, Math.floor(this.leaseMs / 3))).unref();
    return h;
  }

  drop(h: Handle): void {
    if (this.held.get(h.jobId) === h) this.held.delete(h.jobId);
    if (!this.held.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** One UPDATE renews every held lease; a lease not renewed (taken over) is marked lost. */
  async beat(): Promise<void> {
    if (this.beating || !this.held.size) return;
    this.beating = true;
    const ids = [...this.held.keys()];
    try {
      const r = await this.pool.query<{ job_id: string }>(
        `UPDATE job_leases SET expires_at = now() + $2 * interval '1 millisecond', heartbeat_at = now()
         WHERE owner = $1 AND job_id = ANY($3::text[]) RETURNING job_id`,
        [this.replicaId, this.leaseMs, ids],
      );
      const renewed = new Set(r.rows.map((x) => x.job_id));
      for (const id of ids) {
        const h = this.held.get(id);
        if (h && !renewed.has(id)) {
          h.lost = true;
          this.drop(h);
          this.log(`lost the lease on job ${id} (another replica took it over after it expired): no more commands run for it here`);
        }
      }
    } catch (e) {
      this.log(`lease heartbeat failed (${(e as Error).message}); retrying`);
    } finally {
      this.beating = false;
    }
  }

  async confirm(jobId: string): Promise<boolean> {
    const h = this.held.get(jobId);
    if (!h) return false;
    try {
      const r = await this.pool.query(
        `UPDATE job_leases SET expires_at = now() + $2 * interval '1 millisecond', heartbeat_at = now()
         WHERE owner = $1 AND job_id = $3 RETURNING job_id`,
        [this.replicaId, this.leaseMs, jobId],
      );
      if (r.rowCount) return true;
      h.lost = true;
      this.drop(h);
      this.log(`job ${jobId}: its lease was taken over while it waited for its hosts: it runs no command here`);
      return false;
    } catch (e) {
      // The database cannot say: the heartbeat will (and the job's own store writes fail meanwhile).
      this.log(`job ${jobId}: cannot confirm its lease (${(e as Error).message})`);
      return true;
    }
  }

  async disown(jobId: string): Promise<void> {
    await this.pool.query(`UPDATE job_leases SET owner = NULL, expires_at = NULL WHERE job_id = $1 AND owner = $2`, [
      jobId,
      this.replicaId,
    ]);
  }

  async claimNext(opts: { kinds?: readonly string[] } = {}): Promise<LeaseHandle | null> {
    const args: unknown[] = [this.replicaId, this.leaseMs];
    let kindCond = '';
    if (opts.kinds?.length) {
      args.push(opts.kinds);
      kindCond = 'AND j.kind = ANY($3::text[])';
    }
    // A claim that raced with another (its snapshot still saw the job unowned; the other's lease row won the insert)
    // returns nothing although other jobs may wait: try again with a fresh snapshot while unowned jobs remain.
    for (let attempt = 0; attempt < 10; attempt++) {
      const id = await this.claimOnce(args, kindCond);
      if (id) return this.hold(id);
      const left = await this.pool.query(
        `SELECT 1 FROM jobs j WHERE j.status = 'queued' ${kindCond.replace('$3', '$1')}
           AND NOT EXISTS (SELECT 1 FROM job_leases l WHERE l.job_id = j.id AND l.owner IS NOT NULL) LIMIT 1`,
        opts.kinds?.length ? [opts.kinds] : [],
      );
      if (!left.rowCount) return null;
    }
    return null;
  }

  private async claimOnce(args: unknown[], kindCond: string): Promise<string | null> {
    const r = await this.pool.query<{ job_id: string }>(
      `WITH c AS (
         SELECT j.id FROM jobs j
         WHERE j.status = 'queued' ${kindCond}
           AND NOT EXISTS (SELECT 1 FROM job_leases l WHERE l.job_id = j.id AND l.owner IS NOT NULL)
         ORDER BY j.created_at, j.id
         FOR UPDATE OF j SKIP LOCKED LIMIT 1)
       INSERT INTO job_leases (job_id, owner, expires_at, attempt, claimed_at, heartbeat_at)
       SELECT id, $1, now() + $2 * interval '1 millisecond', 1, now(), now() FROM c
       ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
         attempt = job_leases.attempt + 1, claimed_at = now(), heartbeat_at = now()
       WHERE job_leases.owner IS NULL
       RETURNING job_id`,
      args,
    );
    return r.rows[0]?.job_id ?? null;
  }

  async takeExpired(): Promise<ExpiredLease[]> {
    const r = await this.pool.query<Record<string, unknown>>(
      `WITH x AS (
         SELECT l.job_id, l.owner, l.expires_at, l.heartbeat_at FROM job_leases l JOIN jobs j ON j.id = l.job_id
         WHERE j.status IN ('queued', 'running') AND l.expires_at < now()
         ORDER BY l.job_id LIMIT 100
         FOR UPDATE OF l SKIP LOCKED)
       UPDATE job_leases l SET owner = $1, expires_at = now() + $2 * interval '1 millisecond', attempt = l.attempt + 1,
         claimed_at = now(), heartbeat_at = now()
       FROM x WHERE l.job_id = x.job_id
       RETURNING l.job_id, x.owner AS previous_owner, x.expires_at AS expired_at, x.heartbeat_at AS last_heartbeat,
         l.attempt, now() AS taken_at`,
      [this.replicaId, this.leaseMs],
    );
    return r.rows.map((row) => {
      const mine = this.held.get(row.job_id as string);
      if (mine) {
        // Our own lease ran out (this process stalled past it): the verdict stands, stop working on the job.
        mine.lost = true;
        this.drop(mine);
      }
      return {
        jobId: row.job_id as string,
        previousOwner: (row.previous_owner as string | null) ?? null,
        lastHeartbeat: iso(row.last_heartbeat),
        expiredAt: iso(row.expired_at),
        attempt: row.attempt as number,
        takenAt: iso(row.taken_at)!,
      };
    });
  }

  async describe(jobId: string): Promise<{ owner: string | null; attempt: number; expiresAt: string | null } | null> {
    const r = await this.pool.query<Record<string, unknown>>(`SELECT owner, attempt, expires_at FROM job_leases WHERE job_id = $1`, [
      jobId,
    ]);
    const row = r.rows[0];
    return row ? { owner: (row.owner as string | null) ?? null, attempt: row.attempt as number, expiresAt: iso(row.expires_at) } : null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.held.clear();
  }
}

/** LISTEN on one dedicated connection, reconnected when it drops (subscribers are poked then: they re-read). */
class PgFeed implements JobFeed {
  private subs = new Map<string, Set<() => void>>();
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private url: string,
    private options: string | undefined,
    private log: (m: string) => void,
  ) {}

  subscribe(jobId: string, fn: () => void): () => void {
    let set = this.subs.get(jobId);
    if (!set) this.subs.set(jobId, (set = new Set()));
    set.add(fn);
    void this.ensure();
    return () => {
      set.delete(fn);
      if (!set.size && this.subs.get(jobId) === set) this.subs.delete(jobId);
    };
  }

  private pokeAll(): void {
    for (const set of this.subs.values()) for (const fn of [...set]) fn();
  }

  private ensure(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const c = new pg.Client({
        connectionString: this.url,
        application_name: 'netplumb feed',
        ...(this.options ? { options: this.options } : {}),
      });
      c.on('notification', (n) => {
        if (n.channel !== JOB_CHANNEL || !n.payload) return;
        for (const fn of [...(this.subs.get(n.payload) ?? [])]) fn();
      });
      c.on('error', (e) => {
        this.log(`job feed connection lost (${e.message}); reconnecting`);
        this.dropClient(c);
      });
      c.on('end', () => this.dropClient(c));
      try {
        await c.connect();
        await c.query(`LISTEN ${JOB_CHANNEL}`);
        if (this.closed) {
          await c.end();
          return;
        }
        this.client = c;
        // Whatever was written before LISTEN took effect is read now.
        this.pokeAll();
      } catch (e) {
        await c.end().catch(() => {});
        this.log(`job feed cannot listen (${(e as Error).message}); retrying in 1 s`);
        this.scheduleRetry();
      }
    })().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private dropClient(c: pg.Client): void {
    if (this.client !== c) return;
    this.client = null;
    void c.end().catch(() => {});
    this.pokeAll();
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry || !this.subs.size) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.ensure();
    }, 1000);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.connecting;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}
