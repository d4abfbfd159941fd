/**
 * What a job is waiting for, and a bound on every wait: so a job that stalls says where (GET /jobs/{id} shows its
 * `waiting`), and a wait that outlives its bound fails the job with a `timeout` naming it instead of hanging forever.
 *
 * The job runner gives each job a WaitBoard and runs the job's work inside it (AsyncLocalStorage); anything the job
 * awaits below — a host lock, a channel slot on the SSH connection, a Docker lookup, a batch on a host — goes through
 * `boundedWait`, which shows the wait on the board of whoever is waiting and ends it at its bound. Outside a job (the
 * reconcile loop, tools) the bound still holds; there is just no board to show it on.
 *
 * It lives in exec/ (the lowest layer) because executors and the Docker client use it; it knows no jobs or resources:
 * a board is an opaque list of waits.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type WaitKind = 'lock' | 'channel' | 'connection' | 'docker' | 'batch';

export interface Wait {
  kind: WaitKind;
  /** What exactly, in words: "a channel slot on 10.0.0.1:22 (8 of 8 in use, 3 waiting)". */
  detail: string;
  /** The host's name or address, when the wait is on one host. */
  host: string | null;
  /** ISO time the wait began. */
  since: string;
  /** How long it may last (ms) before it fails with a timeout. */
  boundMs: number;
}

/** A wait outlived its bound: what it was waiting for, and for how long. */
export class WaitTimeoutError extends Error {
  readonly code = 'wait-timeout';
  constructor(readonly wait: Wait) {
    super(`waited ${Math.round(wait.boundMs / 1000)} s for ${wait.detail} (since ${wait.since}) and gave up`);
    this.name = 'WaitTimeoutError';
  }
}

/** The waits of one job, as they happen. */
export class WaitBoard {
  private readonly waits = new Set<Wait>();

  /** The waits in progress, oldest first. */
  current(): Wait[] {
    return [...this.waits];
  }

  add(w: Wait): void {
    this.waits.add(w);
  }

  delete(w: Wait): void {
    this.waits.delete(w);
  }
}

const scope = new AsyncLocalStorage<WaitBoard>();

/** Runs fn (and everything it awaits) with its waits shown on board. */
export function withWaitBoard<T>(board: WaitBoard, fn: () => T): T {
  return scope.run(board, fn);
}

export interface WaitSpec {
  kind: WaitKind;
  detail: string;
  host?: string | null;
}

/**
 * Waits for start(signal) at most boundMs. At the bound the signal is aborted (with the WaitTimeoutError as its
 * reason) and the returned promise rejects with that error: start must use the signal to give up what it waits for
 * (leave a queue, abort a request), so nothing is granted to a waiter that has gone.
 */
export function boundedWait<T>(spec: WaitSpec, boundMs: number, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return shownWait(spec, boundMs, (wait) => raceBound(wait, start));
}

async function raceBound<T>(wait: Wait, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new WaitTimeoutError(wait);
      reject(err); // first, so the race ends with the timeout, not with whatever the abort makes start() reject with
      controller.abort(err);
    }, wait.boundMs);
  });
  const started = start(controller.signal);
  started.catch(() => {}); // after the bound its rejection (the abort) has no one left to hear it
  try {
    return await Promise.race([started, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Shows a wait on the current job's board while it lasts; boundedWait adds the bound, a batch bounds itself. */
export async function shownWait<T>(spec: WaitSpec, boundMs: number, work: (wait: Wait) => Promise<T>): Promise<T> {
  const wait: Wait = { kind: spec.kind, detail: spec.detail, host: spec.host ?? null, since: new Date().toISOString(), boundMs };
  const board = scope.getStore();
  board?.add(wait);
  try {
    return await work(wait);
  } finally {
    board?.delete(wait);
  }
}

/** Why a wait was given up: the signal's reason when it is an Error (the WaitTimeoutError), else one saying so. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the wait was given up');
}
