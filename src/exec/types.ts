/** What every executor (local, SSH) offers: run one argv, never a shell string. */
import type { Duplex } from 'node:stream';
import type { BatchOptions, BatchResult, BatchStep } from './batch.js';

export interface RunOptions {
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Bytes written to the command's standard input, then closed. */
  stdin?: string | Buffer;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when the command was killed because it ran past timeoutMs. */
  timedOut: boolean;
}

export interface Executor {
  readonly kind: 'local' | 'ssh';
  /** Runs argv; resolves with its exit code (non-zero is not an error). Rejects with an ExecError when the host cannot be reached. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Runs steps as one batch, with runBatch's contract (src/exec/batch.ts). Optional: an executor that can do better
   * than one `sh -s` per batch (a persistent session, a test double) provides its own; runBatchOn picks it.
   */
  runBatch?(steps: readonly BatchStep[], opts?: BatchOptions): Promise<BatchResult>;
  /** Releases connections. The executor may be used again afterwards (it reconnects). */
  close(): Promise<void>;
  /**
   * Serves a unix socket at `path` on the host: every connection made to it there arrives as a stream here. Local:
   * a listening socket; SSH: OpenSSH stream-local forwarding on the connection, bound again whenever the connection
   * comes back. A stale socket file at `path` is removed first. Optional: an executor without it serves none.
   */
  serveUnixSocket?(path: string, onStream: (stream: Duplex) => void): Promise<void>;
  /** What its connection is doing now: for metrics, and for diagnostics of a stalled job (an executor without a connection has none). */
  stats?(): ExecutorStats;
}

export interface ExecutorStats {
  connected: boolean;
  connectionsOpened: number;
  channelsInUse: number;
  shellSessionsInUse: number;
  /** The channel budget, and how many wait for a slot. */
  channelLimit?: number;
  channelWaiters?: number;
  /** Shell sessions open (busy or idle), and idle. */
  shellSessionsOpen?: number;
  shellSessionsIdle?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
