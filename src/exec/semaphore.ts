/**
 * Counting semaphore with FIFO waiters; the release function it hands out is idempotent.
 * SshExecutor uses one to cap the channels open at once on its connection (hence the
 * wording of the limit's error).
 */
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

  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
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
      if (this.active < this.limit) grant();
      else this.waiters.push(grant);
    });
  }
}
