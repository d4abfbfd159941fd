/**
 * Per-host locks, in two modes. Exclusive: one job at a time on the host (bridges, tunnels, probes: anything that
 * changes what other jobs on the host rely on). Shared: jobs whose changes are disjoint by construction (attachments:
 * each its own veth, port and target namespace, names checked unique in the store) may run side by side, but never
 * beside an exclusive job. Waiters are served first come, first served (a shared job never jumps an exclusive one
 * that waits), and several hosts are taken in sorted order (no deadlock).
 */
export type LockMode = 'shared' | 'exclusive';

class HostLock {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: { mode: LockMode; grant: () => void }[] = [];

  get idle(): boolean {
    return !this.exclusive && this.shared === 0 && this.waiting.length === 0;
  }

  acquire(mode: LockMode): Promise<void> {
    return new Promise((grant) => {
      this.waiting.push({ mode, grant });
      this.pump();
    });
  }

  release(mode: LockMode): void {
    if (mode === 'exclusive') this.exclusive = false;
    else this.shared--;
    this.pump();
  }

  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      const free = next.mode === 'exclusive' ? !this.exclusive && this.shared === 0 : !this.exclusive;
      if (!free) return;
      this.waiting.shift();
      if (next.mode === 'exclusive') this.exclusive = true;
      else this.shared++;
      next.grant();
    }
  }
}

export class HostLocks {
  private locks = new Map<string, HostLock>();

  async acquire(hosts: readonly string[], mode: LockMode = 'exclusive'): Promise<() => void> {
    const sorted = [...new Set(hosts)].sort();
    const held: string[] = [];
    for (const h of sorted) {
      let lock = this.locks.get(h);
      if (!lock) this.locks.set(h, (lock = new HostLock()));
      await lock.acquire(mode);
      held.push(h);
    }
    return () => {
      for (const h of held.reverse()) {
        const lock = this.locks.get(h)!;
        lock.release(mode);
        if (lock.idle) this.locks.delete(h);
      }
    };
  }
}
