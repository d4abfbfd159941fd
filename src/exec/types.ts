/** What every executor (local, SSH) offers: run one argv, never a shell string. */
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
  /** Releases connections. The executor may be used again afterwards (it reconnects). */
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
