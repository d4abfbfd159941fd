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
});
