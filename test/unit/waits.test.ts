import { afterEach, describe, expect, it, vi } from 'vitest';
import type Dockerode from 'dockerode';
import { boundedWait, WaitBoard, WaitTimeoutError, withWaitBoard } from '../../src/exec/waits.js';
import { Semaphore } from '../../src/exec/semaphore.js';
import { HostLocks } from '../../src/jobs/locks.js';
import { DOCKER_READ_MS, resolveContainer } from '../../src/docker/containers.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

afterEach(() => {
  vi.useRealTimers();
});

describe('bounded waits (issue 33)', () => {
  it('shows a wait on the board of whoever waits while it lasts, and removes it when it ends', async () => {
    const board = new WaitBoard();
    let finish!: (v: string) => void;
    const p = withWaitBoard(board, () =>
      boundedWait(
        { kind: 'docker', detail: 'a Docker lookup of container web1', host: 'docker1' },
        10_000,
        () => new Promise<string>((r) => (finish = r)),
      ),
    );
    await tick();
    expect(board.current()).toEqual([
      { kind: 'docker', detail: 'a Docker lookup of container web1', host: 'docker1', since: expect.any(String), boundMs: 10_000 },
    ]);
    finish('done');
    await expect(p).resolves.toBe('done');
    expect(board.current()).toEqual([]);
  });

  it('at its bound the wait fails with a WaitTimeoutError naming it, and aborts what it waited for', async () => {
    const board = new WaitBoard();
    let signal: AbortSignal | undefined;
    const p = withWaitBoard(board, () =>
      boundedWait({ kind: 'channel', detail: 'a channel slot on 10.0.0.1:22' }, 30, (s) => {
        signal = s;
        return new Promise<never>((_, reject) => s.addEventListener('abort', () => reject(new Error('gave up'))));
      }),
    );
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).message).toMatch(/^waited 0 s for a channel slot on 10\.0\.0\.1:22 \(since .*\) and gave up$/);
    expect((err as WaitTimeoutError).wait).toMatchObject({ kind: 'channel', boundMs: 30 });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(err);
    expect(board.current()).toEqual([]);
  });

  it('a semaphore waiter that gives up leaves the queue: the slot goes to the next one', async () => {
    const sem = new Semaphore(1);
    const first = await sem.acquire();
    const gaveUp = new AbortController();
    const quitter = sem.acquire(gaveUp.signal);
    let second: (() => void) | undefined;
    const next = sem.acquire().then((r) => (second = r));
    expect(sem.waiting).toBe(2);
    gaveUp.abort(new Error('bound'));
    await expect(quitter).rejects.toThrow('bound');
    expect(sem.waiting).toBe(1);
    first();
    await next;
    expect(second).toBeTypeOf('function');
    expect(sem.active).toBe(1);
    second!();
    expect(sem.active).toBe(0);
  });

  it('a lock waiter that gives up leaves the queue and gives back the hosts it already took; holders are named', async () => {
    const locks = new HostLocks();
    const held = await locks.acquire(['h2'], 'exclusive', { owner: 'job_a' });
    expect(locks.describe('h2')).toBe('held by job_a (exclusive); 0 waiting');
    const gaveUp = new AbortController();
    // takes h1, then waits for h2 behind job_a
    const quitter = locks.acquire(['h1', 'h2'], 'exclusive', { owner: 'job_b', signal: gaveUp.signal });
    await tick();
    expect(locks.describe('h1')).toBe('held by job_b (exclusive); 0 waiting');
    expect(locks.describe('h2')).toBe('held by job_a (exclusive); 1 waiting');
    let shared = false;
    void locks.acquire(['h2'], 'shared', { owner: 'job_c' }).then((r) => ((shared = true), r()));
    gaveUp.abort(new Error('bound'));
    await expect(quitter).rejects.toThrow('bound');
    // h1 is free again at once; h2's shared waiter still waits for job_a, not for the one that left
    expect(locks.describe('h1')).toBe('no holder');
    (await locks.acquire(['h1'], 'exclusive', { owner: 'job_d' }))();
    await tick();
    expect(shared).toBe(false);
    held();
    await tick();
    expect(shared).toBe(true);
  });

  it('a Docker lookup that never answers fails at DOCKER_READ_MS, its request aborted (the stream is not held)', async () => {
    vi.useFakeTimers();
    let signal: AbortSignal | undefined;
    const docker = {
      getContainer: () => ({
        inspect: (opts: { abortSignal: AbortSignal }) => {
          signal = opts.abortSignal;
          return new Promise(() => {});
        },
      }),
    } as unknown as Dockerode;
    const p = resolveContainer(docker, 'web1').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(DOCKER_READ_MS + 1);
    const err = await p;
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).wait).toMatchObject({ kind: 'docker', detail: 'a Docker lookup of container web1' });
    expect(signal?.aborted).toBe(true);
  });
});
