/** Per-host locks: one job at a time per host; several hosts are taken in sorted order (no deadlock). */
export class HostLocks {
  private tails = new Map<string, Promise<void>>();

  async acquire(hosts: readonly string[]): Promise<() => void> {
    const sorted = [...new Set(hosts)].sort();
    const releases: (() => void)[] = [];
    for (const h of sorted) releases.push(await this.one(h));
    return () => releases.reverse().forEach((r) => r());
  }

  private async one(host: string): Promise<() => void> {
    const prev = this.tails.get(host) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(host, tail);
    await prev;
    return () => {
      release();
      if (this.tails.get(host) === tail) this.tails.delete(host);
    };
  }
}
