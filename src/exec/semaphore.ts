/**
 * Counting semaphore with FIFO waiters; the release function it hands out is idempotent.
 * SshExecutor uses one to cap the channels open at once on its connection (hence the
 * wording of the limit's error). A waiter can give up (an AbortSignal): it leaves the queue,
 * so a slot is never granted to someone who has gone.
 */
import { abortReason } from './waits.js';

export class Semaphore {
  active = 0;
  highWater = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('maxChannels must be at least 1');
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        this.highWater = Math.max(this.highWater, this.active);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active--;
          this.waiters.shift()?.();
        });
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortReason(signal!));
      };
      if (this.active < this.limit) return grant();
      this.waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
