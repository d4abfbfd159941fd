/**
 * Per-host locks, in two modes. Exclusive: one job at a time on the host (bridges, tunnels, probes: anything that
 * changes what other jobs on the host rely on). Shared: jobs whose changes are disjoint by construction (attachments:
 * each its own veth, port and target namespace, names checked unique in the store) may run side by side, but never
 * beside an exclusive job. Waiters are served first come, first served (a shared job never jumps an exclusive one
 * that waits), and several hosts are taken in sorted order (no deadlock).
 *
 * Each holder names itself (its job id), so a job that waits can say whom it waits for; a waiter may give up (an
 * AbortSignal, at its wait's bound): it leaves the queue, and what it already took on other hosts is given back.
 */
import type { HostLockOptions } from '../store/coordination.js';
import { abortReason } from '../exec/waits.js';

export type LockMode = 'shared' | 'exclusive';

interface Waiter {
  mode: LockMode;
  owner: string;
  grant: () => void;
}

class HostLock {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: Waiter[] = [];
  /** Who holds it now (owner → mode), for messages. */
  readonly holders = new Map<string, LockMode>();

  get idle(): boolean {
    return !this.exclusive && this.shared === 0 && this.waiting.length === 0;
  }

  get queued(): number {
    return this.waiting.length;
  }

  acquire(mode: LockMode, owner: string, signal?: AbortSignal): Promise<void> {
    return new Promise((grant, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const waiter: Waiter = {
        mode,
        owner,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          grant();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        this.pump(); // a shared waiter behind this exclusive one may go now
        reject(abortReason(signal!));
      };
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  release(mode: LockMode, owner: string): void {
    if (mode === 'exclusive') this.exclusive = false;
    else this.shared--;
    this.holders.delete(owner);
    this.pump();
  }

  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      const free = next.mode === 'exclusive' ? !this.exclusive && this.shared === 0 : !this.exclusive;
      if (!free) return;
      this.waiting.shift();
      if (next.mode === 'exclusive') this.exclusive = true;
      else this.shared++;
      this.holders.set(next.owner, next.mode);
      next.grant();
    }
  }
}

let anonymous = 0;

export class HostLocks {
  private locks = new Map<string, HostLock>();

  async acquire(hosts: readonly string[], mode: LockMode = 'exclusive', opts: HostLockOptions = {}): Promise<() => void> {
    const exclusive = new Set(opts.exclusive ?? []);
    const sorted = [...new Set([...hosts, ...exclusive])].sort();
    const modeOf = (key: string): LockMode => (exclusive.has(key) ? 'exclusive' : mode);
    const owner = opts.owner ?? `anonymous-${++anonymous}`;
    const held: string[] = [];
    const release = () => {
      for (const h of held.reverse()) {
        const lock = this.locks.get(h)!;
        lock.release(modeOf(h), owner);
        if (lock.idle) this.locks.delete(h);
      }
      held.length = 0;
    };
    for (const h of sorted) {
      let lock = this.locks.get(h);
      if (!lock) this.locks.set(h, (lock = new HostLock()));
      try {
        await lock.acquire(modeOf(h), owner, opts.signal);
      } catch (e) {
        if (lock.idle) this.locks.delete(h);
        release();
        throw e;
      }
      held.push(h);
    }
    return release;
  }

  /** Who holds a host's lock now, and how many wait: "job_a (exclusive); 3 waiting". */
  describe(host: string): string {
    const lock = this.locks.get(host);
    if (!lock || lock.holders.size === 0) return 'no holder';
    const holders = [...lock.holders].map(([owner, mode]) => `${owner} (${mode})`);
    const shown = holders.length > 3 ? [...holders.slice(0, 3), `${holders.length - 3} more`] : holders;
    return `held by ${shown.join(', ')}; ${lock.queued} waiting`;
  }
}
