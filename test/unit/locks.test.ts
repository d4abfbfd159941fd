import { describe, expect, it } from 'vitest';
import { HostLocks } from '../../src/jobs/locks.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('host locks', () => {
  it('shared holders run side by side; an exclusive one waits for them, and later shared ones wait behind it (first come, first served)', async () => {
    const locks = new HostLocks();
    const events: string[] = [];
    const a = await locks.acquire(['h1'], 'shared');
    const b = await locks.acquire(['h1'], 'shared');
    const x = locks.acquire(['h1'], 'exclusive').then((release) => (events.push('x'), release));
    const c = locks.acquire(['h1'], 'shared').then((release) => (events.push('c'), release));
    await tick();
    expect(events).toEqual([]);
    a();
    await tick();
    expect(events).toEqual([]);
    b();
    await tick();
    expect(events).toEqual(['x']);
    (await x)();
    await tick();
    expect(events).toEqual(['x', 'c']);
    (await c)();
  });

  it('exclusive holders on one host run one after the other; other hosts are not held up', async () => {
    const locks = new HostLocks();
    const first = await locks.acquire(['h1', 'h2']);
    let second = false;
    let other = false;
    void locks.acquire(['h2', 'h1']).then((release) => ((second = true), release()));
    void locks.acquire(['h3']).then((release) => ((other = true), release()));
    await tick();
    expect([second, other]).toEqual([false, true]);
    first();
    await tick();
    expect(second).toBe(true);
  });

  it('resource keys are exclusive whatever the host mode: two shared jobs on one host run side by side unless they share a resource', async () => {
    const locks = new HostLocks();
    const a = await locks.acquire(['h1'], 'shared', { owner: 'repair_a1', exclusive: ['resource:att_1'] });
    const b = await locks.acquire(['h1'], 'shared', { owner: 'create_a2', exclusive: ['resource:att_2'] });
    let deleted = false;
    const deleting = locks.acquire(['h1'], 'shared', { owner: 'delete_a1', exclusive: ['resource:att_1'] }).then((release) => {
      deleted = true;
      return release;
    });
    await tick();
    expect(deleted).toBe(false);
    expect(locks.describe('resource:att_1')).toBe('held by repair_a1 (exclusive); 1 waiting');
    b();
    await tick();
    expect(deleted).toBe(false);
    a();
    await tick();
    expect(deleted).toBe(true);
    (await deleting)();
    expect(locks.describe('resource:att_1')).toBe('no holder');
    expect(locks.describe('h1')).toBe('no holder');
  });

  it('a job on a resource a topology owns waits for a job on the topology (its key), and the other way round', async () => {
    const locks = new HostLocks();
    const apply = await locks.acquire(['h1', 'h2'], 'exclusive', { owner: 'apply', exclusive: ['resource:top_1', 'topology:lab'] });
    let repaired = false;
    void locks
      .acquire(['h1'], 'shared', { owner: 'repair', exclusive: ['resource:att_9', 'topology:lab'] })
      .then((release) => ((repaired = true), release()));
    await tick();
    expect(repaired).toBe(false);
    apply();
    await tick();
    expect(repaired).toBe(true);
  });
});
