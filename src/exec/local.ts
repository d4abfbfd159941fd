import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { signalNumber } from './signals.js';
import { DEFAULT_TIMEOUT_MS, type Executor, type RunOptions, type RunResult } from './types.js';

/** Each of stdout and stderr is kept up to this many bytes; the rest is dropped. */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** After the command exits, how long to wait for its pipes to close (a background child may hold them). */
const PIPE_GRACE_MS = 200;

export interface LocalExecutorOptions {
  /** Variables merged over process.env for every command (e.g. OVS_RUNDIR, DOCKER_HOST). */
  env?: Record<string, string>;
}

/** Collects a stream's bytes up to a cap; decoded once at the end so multi-byte characters survive chunking. */
export class OutputBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly cap = MAX_OUTPUT_BYTES) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated ||= buf.length > 0;
      return;
    }
    const kept = buf.length > room ? buf.subarray(0, room) : buf;
    if (kept.length < buf.length) this.truncated = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('utf8');
  }
}

/**
 * Runs argv on this machine: spawn without a shell, in its own process group so a
 * timeout kills everything the command started, not just the command.
 */
export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  private readonly env: NodeJS.ProcessEnv | undefined;

  constructor(opts: LocalExecutorOptions = {}) {
    this.env = opts.env ? { ...process.env, ...opts.env } : undefined;
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [command, ...args] = argv;
    if (command === undefined || command === '') {
      return Promise.reject(new TypeError('LocalExecutor.run: argv must name a command'));
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = performance.now();

    return new Promise<RunResult>((resolve, reject) => {
      let child;
      try {
        child = spawn(command, args, {
          detached: true, // new process group: kill(-pid) reaches grandchildren too
          stdio: ['pipe', 'pipe', 'pipe'],
          env: this.env ?? process.env,
          windowsHide: true,
        });
      } catch (err) {
        // Synchronous failures are caller bugs (e.g. NUL in an argument), not command failures.
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }

      const stdout = new OutputBuffer();
      const stderr = new OutputBuffer();
      let timedOut = false;
      let settled = false;
      let exitCode: number | undefined;
      let graceTimer: NodeJS.Timeout | undefined;

      const finish = (result: Omit<RunResult, 'ms' | 'stdout' | 'stderr'> & { stderr?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(killTimer);
        clearTimeout(graceTimer);
        // Background children may still hold the pipes: stop reading, do not wait for them.
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          stdout: stdout.text(),
          stderr: result.stderr ?? stderr.text(),
          ms: performance.now() - started,
        });
      };

      /** Resolves shortly unless 'close' (pipes drained) resolves first. */
      const finishSoon = (code: number) => {
        clearTimeout(graceTimer);
        graceTimer = setTimeout(() => finish({ exitCode: code, timedOut }), PIPE_GRACE_MS);
      };

      const killTimer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
        finishSoon(124);
      }, timeoutMs);

      const collect = (stream: Readable | null, into: OutputBuffer) => {
        stream?.on('data', (chunk: Buffer) => into.push(chunk));
        stream?.on('error', () => {}); // a pipe torn down by destroy() is not a failure
      };
      collect(child.stdout, stdout);
      collect(child.stderr, stderr);

      child.on('error', (err: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) {
          // Spawned, then an error (rare: a failed kill). The exit event still decides the result.
          stderr.push(`${command}: ${err.message}\n`);
          return;
        }
        const notFound = err.code === 'ENOENT';
        finish({
          exitCode: notFound ? 127 : 126,
          timedOut: false,
          stderr: notFound ? `${command}: command not found\n` : `${command}: cannot execute: ${err.code ?? err.message}\n`,
        });
      });

      child.on('exit', (code, signal) => {
        exitCode = timedOut ? 124 : (code ?? 128 + signalNumber(signal));
        // 'close' comes once the pipes are drained; if a background child keeps them open, stop waiting.
        finishSoon(exitCode);
      });
      child.on('close', () => {
        if (exitCode !== undefined) finish({ exitCode, timedOut });
      });

      // stdin is always closed, so commands that read it never wait for input that cannot come.
      child.stdin?.on('error', () => {}); // EPIPE when the command exits without reading
      if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
      else child.stdin?.end();
    });
  }

  async close(): Promise<void> {
    // Each run owns its process; the sockets it serves stop.
    const servers = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private readonly sockets = new Map<string, Server>();

  async serveUnixSocket(path: string, onStream: (stream: Duplex) => void): Promise<void> {
    if (this.sockets.has(path)) return;
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    const server = createServer((socket) => onStream(socket));
    this.sockets.set(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => {
        this.sockets.delete(path);
        reject(e);
      });
      server.listen(path, () => resolve());
    });
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}
