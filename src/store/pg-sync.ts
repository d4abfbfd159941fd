/**
 * Synchronous PostgreSQL queries for the synchronous Store interface (the synckit pattern, hand-rolled): the `pg`
 * driver runs on one worker thread per process; a query posts a request to it and the calling thread sleeps in
 * Atomics.wait on a SharedArrayBuffer until the worker has the answer, which is then taken with
 * receiveMessageOnPort. The cost is honest and simple: each query blocks this process's event loop for its round
 * trip to the database (see docs/replicas.md for measured figures). Everything that may wait long (host locks,
 * LISTEN, heartbeats) uses the async driver on the main thread instead (pg-coordination.ts).
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

export interface SyncResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number;
}

/** SQLSTATE classes and socket errors after which the session is gone (or in an unknown state): reopen it. */
export const SESSION_LOST = /^(08...|57P0[1-3]|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH)$/;

/** A query failed: the driver's message, with PostgreSQL's SQLSTATE (or the socket's errno) in `code`. */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly constraint?: string,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

type Answer =
  { seq: number; ok: true; result: unknown } | { seq: number; ok: false; error: { message: string; code?: string; constraint?: string } };

/** The one worker of this process (started on first use; it does not keep the process alive). */
class Bridge {
  private worker: Worker;
  private port: MessagePort;
  private flag = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  broken: Error | null = null;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./pg-sync-worker.mjs', import.meta.url), {
      workerData: { port: port2, flag: this.flag.buffer },
      transferList: [port2],
      // Plain JavaScript: no TypeScript loader needed (and none inherited: tsx's would only slow it down).
      execArgv: [],
    });
    this.worker.on('error', (e) => (this.broken = e));
    this.worker.unref();
    this.port.unref();
  }

  call<T>(req: Record<string, unknown>, timeoutMs: number): T {
    if (this.broken) throw new PgError(`the store's database thread failed: ${this.broken.message}`, 'EWORKER');
    const seq = ++this.seq;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ ...req, seq });
    let timedOut = false;
    for (;;) {
      // Drain first, then sleep: the worker posts its answer before it raises the flag, so an answer posted after
      // this drain raises the flag after the store below and the wait returns at once.
      const msg = receiveMessageOnPort(this.port)?.message as Answer | undefined;
      if (msg) {
        if (msg.seq !== seq) continue; // a late answer to a request that timed out: drop it
        if (msg.ok) return msg.result as T;
        throw new PgError(msg.error.message, msg.error.code, msg.error.constraint);
      }
      if (timedOut) {
        // The session is in an unknown state (the statement may still run): the caller drops the connection.
        throw new PgError(`the database did not answer within ${timeoutMs} ms`, 'ETIMEDOUT');
      }
      timedOut = Atomics.wait(this.flag, 0, 0, timeoutMs) === 'timed-out';
      Atomics.store(this.flag, 0, 0);
    }
  }
}

let bridge: Bridge | null = null;

/** One synchronous connection (its own PostgreSQL session) on the shared worker. */
export class SyncConnection {
  private id: number;
  private closed = false;

  constructor(
    url: string,
    opts: { init?: string[]; name?: string; timeoutMs?: number } = {},
    private readonly timeoutMs = opts.timeoutMs ?? 30_000,
  ) {
    bridge ??= new Bridge();
    this.id = bridge.call<{ id: number }>({ op: 'open', url, init: opts.init ?? [], name: opts.name }, this.timeoutMs).id;
  }

  query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): SyncResult<R> {
    if (this.closed) throw new PgError('the store is closed', 'ECONNCLOSED');
    return bridge!.call<SyncResult<R>>({ op: 'query', conn: this.id, sql, params }, this.timeoutMs);
  }

  /** A new session in place of a broken one (nothing of the old session survives: no transaction, no locks). */
  reopen(): void {
    if (this.closed) throw new PgError('the store is closed', 'ECONNCLOSED');
    bridge!.call({ op: 'reopen', conn: this.id }, this.timeoutMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      bridge!.call({ op: 'close', conn: this.id }, 5_000);
    } catch {
      // closing a broken connection: nothing left to do
    }
  }
}
