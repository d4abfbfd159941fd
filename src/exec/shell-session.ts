/**
 * Persistent shell sessions for SshExecutor.runBatch: a host pays its login shell's start-up (sshd runs `$SHELL -c`,
 * and bash sources ~/.bashrc for it: pyenv/nvm/conda init can cost 300 ms) once per session, not once per batch.
 *
 * A session is one exec channel running `exec sh -s` (the login shell starts once and replaces itself with sh, so no
 * login shell stays behind) whose stdin stays open. The first write is a bootstrap:
 *   exec 3>&2 2>/dev/null      the session shell's own messages (bash-as-sh says "Killed") never reach the stream;
 *                              a batch's stderr goes to fd 3, the channel's stderr
 *   np_t=$(command -v timeout)  for `_`, which bash sets for a program it runs: steps see what a run alone sees
 * and each batch is one brace group (so the session shell runs it only once all of it has arrived):
 *   { printf %s '<the batch script, exactly as runBatch sends it, quoted>' | _=$np_t timeout -k 5 <s> sh -s 2>&3 3>&-
 *   printf '\n@np:<nonce> X %d\n' "$?"; printf '\n@np:<nonce> X\n' >&3; }
 * The script runs in its own `sh -s` under the remote `timeout`, exactly as a one-off batch does: its `exit` ends that
 * sh, not the session, and its deadline ends everything the batch started (timeout signals its whole process group).
 * (A quoted word, not a heredoc: any line of the script could begin like a heredoc's delimiter, see heredocDelimiter.)
 * The X markers end the batch on each stream (stdout and stderr arrive independently: each is cut at its own X);
 * stdout's carries the batch shell's exit status (124/137: timed out). What a stream carried before its X is parsed by
 * parseBatchOutput as runBatch's output; the first batch's preamble is what the login shell printed.
 *
 * A session is discarded (its channel closed) after any batch that did not end cleanly: timed out, an exit status
 * other than 0, output that broke the framing, output while idle; also when the session shell dies (its channel
 * then closes at once, so what is left of a batch still running on the host stops at its next marker: a batch whose
 * output is gone exits, see batch.ts). Nothing is ever sent twice: a batch whose session died rejects.
 *
 * The session shell itself runs without a remote `timeout` (it lives as long as its channel; closing the channel, or
 * losing the connection, gives it EOF and it exits). The limit is runBatch's: a login rc file that reads stdin eats the
 * bootstrap and the first batch (here the batch then times out on the local safety net, as nothing answers).
 */
import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { emptyBatch, finishBatch, prepareBatch, type BatchOptions, type BatchResult, type BatchStep } from './batch.js';
import { ExecError } from './errors.js';
import { MAX_OUTPUT_BYTES } from './local.js';
import { quoteArg } from './quote.js';
import { signalNumber } from './signals.js';
import { DEFAULT_TIMEOUT_MS, type RunResult } from './types.js';

/** The command line the login shell runs: one simple command, valid in any shell (bash, zsh, fish, csh). */
const SESSION_COMMAND = 'exec sh -s';
const BOOTSTRAP = 'exec 3>&2 2>/dev/null\nnp_t=$(command -v timeout)\n';
/** The remote `timeout` gets this long after its TERM before it sends KILL (as for single commands). */
const KILL_AFTER_S = 5;
/** The local safety net fires this long after the batch's time, after the remote KILL should have happened. */
const LOCAL_GRACE_MS = 10_000;

/** A channel opened for a session, with the slot it holds. */
export interface SessionChannel {
  channel: ClientChannel;
  /** Gives the channel's slot back (idempotent). */
  release(): void;
  /** The connection carrying the channel is still up. */
  connected(): boolean;
}

/** What the pool needs from its executor. */
export interface SessionHost {
  /** `address:port`, for messages. */
  readonly target: string;
  /** Takes a channel slot and opens `command` as an exec channel within `ms`; rejects with ExecError. */
  openChannel(command: string, ms: number): Promise<SessionChannel>;
  /** Runs a script as a one-off `sh -s` (its own channel and login shell). */
  runScript(script: string, timeoutMs: number): Promise<RunResult>;
  /** Someone waits for a channel slot: an idle session should give its own back. */
  slotWanted(): boolean;
}

export interface SessionPoolOptions {
  /** Sessions open at once (busy or idle); when all are busy a batch runs as a one-off. 0: no sessions. */
  max: number;
  /** An idle session is closed after this long. */
  idleMs: number;
}

/**
 * Runs batches on up to `max` persistent sessions, one batch at a time each; when all are busy, a batch runs as a
 * one-off (its own channel), so concurrent batches never queue behind each other. Idle sessions close after idleMs,
 * or at once when the executor needs their channel for other work.
 */
export class ShellSessionPool {
  private readonly sessions = new Set<ShellSession>();

  constructor(
    private readonly host: SessionHost,
    private readonly opts: SessionPoolOptions,
  ) {}

  /** Sessions open (busy, idle or opening), and idle ones. */
  get stats(): { open: number; idle: number } {
    let idle = 0;
    for (const s of this.sessions) if (s.state === 'idle') idle++;
    return { open: this.sessions.size, idle };
  }

  async run(steps: readonly BatchStep[], opts: BatchOptions = {}): Promise<BatchResult> {
    if (steps.length === 0) return emptyBatch();
    const started = performance.now();
    const { nonce, script } = prepareBatch(steps); // a step it cannot express throws here, before anything is sent
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let session = this.takeIdle();
    if (!session) {
      if (this.sessions.size >= this.opts.max) return finishBatch(await this.host.runScript(script, timeoutMs), nonce, steps);
      session = new ShellSession(this.host, (s) => this.sessions.delete(s));
      this.sessions.add(session);
      try {
        await session.open(timeoutMs);
      } catch (err) {
        session.discard();
        throw err;
      }
    }
    let result: BatchResult;
    try {
      const run = await session.runBatch(nonce, script, timeoutMs, started);
      result = finishBatch(run, nonce, steps);
      if (run.exitCode !== 0 || run.timedOut) session.discard();
    } catch (err) {
      session.discard();
      throw err;
    }
    this.idle(session);
    return result;
  }

  /** Closes one idle session (its channel slot is then free). True if there was one. */
  closeIdle(): boolean {
    for (const s of this.sessions) {
      if (s.state === 'idle') {
        s.discard();
        return true;
      }
    }
    return false;
  }

  /** Closes every session; batches still running on one reject. */
  close(): void {
    for (const s of [...this.sessions]) s.discard();
  }

  private takeIdle(): ShellSession | undefined {
    for (const s of this.sessions) {
      if (s.state === 'idle' && s.usable()) {
        s.state = 'busy';
        s.clearIdleTimer();
        return s;
      }
      if (s.state === 'idle') s.discard();
    }
    return undefined;
  }

  private idle(session: ShellSession): void {
    if (session.state !== 'busy') return;
    // Work waits for a channel: give this one back rather than hold it idle.
    if (this.host.slotWanted()) return session.discard();
    session.state = 'idle';
    session.startIdleTimer(this.opts.idleMs);
  }
}

/** One stream of a session for the current batch: its bytes (capped), cut at the batch's X marker. */
class StreamCut {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Bytes pushed in all (before the marker search stops). */
  private seen = 0;
  /** The last bytes seen, so a marker split across chunks is still found. */
  private carry = Buffer.alloc(0);
  /** Where the X marker begins (offset in the stream), and its fields. */
  end: { at: number; status: string | undefined } | undefined;
  /** Bytes after the X marker: something wrote into the session outside the batch. */
  extra = 0;

  constructor(
    private readonly marker: RegExp,
    private readonly maxMarker: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.end) {
      this.extra += chunk.length;
      return;
    }
    const room = MAX_OUTPUT_BYTES + this.maxMarker - this.size;
    if (room > 0) {
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(kept);
      this.size += kept.length;
    }
    const window = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const base = this.seen - this.carry.length;
    this.seen += chunk.length;
    const m = this.marker.exec(window.toString('latin1'));
    if (m) {
      this.end = { at: base + m.index, status: m[1] };
      this.extra = window.length - (m.index + m[0].length);
    } else {
      this.carry = Buffer.from(window.subarray(Math.max(0, window.length - this.maxMarker)));
    }
  }

  /** The batch's text on this stream: before the X marker (or all so far), at most MAX_OUTPUT_BYTES as a run keeps. */
  text(): string {
    const all = Buffer.concat(this.chunks, this.size);
    return all.subarray(0, Math.min(this.end?.at ?? all.length, MAX_OUTPUT_BYTES)).toString('utf8');
  }
}

interface InFlight {
  out: StreamCut;
  err: StreamCut;
  seconds: number;
  sentAt: number;
  started: number;
  safetyNet: NodeJS.Timeout;
  resolve(run: RunResult): void;
  reject(err: Error): void;
}

class ShellSession {
  state: 'opening' | 'busy' | 'idle' | 'closed' = 'opening';
  private opened: SessionChannel | undefined;
  private batch: InFlight | undefined;
  /** Output before the first batch began (the login shell's), kept for it. */
  private early: { out: Buffer[]; err: Buffer[] } | undefined = { out: [], err: [] };
  private bootstrapped = false;
  private exitCode: number | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: SessionHost,
    private readonly gone: (s: ShellSession) => void,
  ) {}

  async open(ms: number): Promise<void> {
    const opened = await this.host.openChannel(SESSION_COMMAND, ms);
    this.opened = opened;
    const { channel } = opened;
    channel.on('data', (chunk: Buffer) => this.onData('out', chunk));
    channel.stderr.on('data', (chunk: Buffer) => this.onData('err', chunk));
    channel.on('error', () => {}); // surfaced through 'close'
    channel.stderr.on('error', () => {});
    channel.on('exit', (code?: number | null, signal?: string) => this.onExit(code, signal));
    channel.on('close', (code?: number | null, signal?: string) => this.onClose(code, signal));
    if (this.state === 'closed')
      channel.close(); // discarded while it opened
    else this.state = 'busy';
  }

  usable(): boolean {
    return this.state !== 'closed' && this.exitCode === undefined && !!this.opened?.connected();
  }

  /** Sends one batch and resolves with the batch shell's run, as Executor.run would for a one-off `sh -s`. */
  runBatch(nonce: string, script: string, timeoutMs: number, started: number): Promise<RunResult> {
    const channel = this.opened?.channel;
    if (!channel || !this.usable())
      return Promise.reject(new ExecError('host-unreachable', `the shell session on ${this.host.target} ended`));
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const M = `@np:${nonce}`;
    const text =
      `{ printf %s ${quoteArg(script)} | _=$np_t timeout -k ${KILL_AFTER_S} ${seconds} sh -s 2>&3 3>&-\n` +
      `printf '\\n${M} X %d\\n' "$?"; printf '\\n${M} X\\n' >&3; }\n`;
    return new Promise<RunResult>((resolve, reject) => {
      const maxMarker = M.length + 8; // \n@np:<nonce> X 255\n
      const marker = new RegExp(`\\n${M} X(?: (\\d+))?\\n`);
      const batch: InFlight = {
        out: new StreamCut(marker, maxMarker),
        err: new StreamCut(marker, maxMarker),
        seconds,
        sentAt: performance.now(),
        started,
        // The remote timeout should end the batch; this covers a connection that went silent.
        safetyNet: setTimeout(() => this.finish({ exitCode: 124, timedOut: true }), timeoutMs + LOCAL_GRACE_MS),
        resolve,
        reject,
      };
      this.batch = batch;
      if (this.early) {
        for (const c of this.early.out) batch.out.push(c);
        for (const c of this.early.err) batch.err.push(c);
        this.early = undefined;
      }
      channel.write(this.bootstrapped ? text : BOOTSTRAP + text);
      this.bootstrapped = true;
      this.check();
    });
  }

  startIdleTimer(ms: number): void {
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => this.discard(), ms);
    this.idleTimer.unref();
  }

  clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Ends the session: its channel closes (its slot comes back when it has), a batch still running rejects. */
  discard(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearIdleTimer();
    this.gone(this);
    this.opened?.channel.close();
  }

  private onData(stream: 'out' | 'err', chunk: Buffer): void {
    const batch = this.batch;
    if (!batch) {
      if (this.early) this.early[stream].push(chunk);
      else this.discard(); // output outside any batch: the framing cannot be trusted any more
      return;
    }
    batch[stream].push(chunk);
    this.check();
  }

  /** Both X markers seen: the batch is over. */
  private check(): void {
    const b = this.batch;
    if (!b?.out.end || !b.err.end) return;
    const status = Number(b.out.end.status ?? NaN);
    if (!Number.isInteger(status)) {
      this.discard();
      return this.finish({
        error: new ExecError('host-unreachable', `the shell session on ${this.host.target} sent a malformed end of batch`),
      });
    }
    if (b.out.extra || b.err.extra) this.discard();
    this.finish({ exitCode: status, timedOut: this.ranOutOfTime(status) });
  }

  /** 124: the remote timeout fired; 137: it had to KILL. A batch shell may exit so itself: only once the time is up. */
  private ranOutOfTime(code: number): boolean {
    const b = this.batch;
    return !!b && (code === 124 || code === 137) && performance.now() - b.sentAt >= b.seconds * 1000 - 50;
  }

  private noteExit(code?: number | null, signal?: string): void {
    if (this.exitCode !== undefined) return;
    if (typeof code === 'number') this.exitCode = code;
    else if (signal) this.exitCode = 128 + signalNumber(signal);
  }

  private onExit(code?: number | null, signal?: string): void {
    this.noteExit(code, signal);
    // The session shell is gone. Close the channel now: what is left of a batch still running on the host then finds
    // its output gone and stops before its next step (see batch.ts); the batch ends on 'close'.
    this.discard();
  }

  private onClose(code?: number | null, signal?: string): void {
    this.noteExit(code, signal);
    this.discard();
    this.opened?.release();
    if (!this.batch) return;
    if (this.exitCode !== undefined) return this.finish({ exitCode: this.exitCode, timedOut: this.ranOutOfTime(this.exitCode) });
    // No status: the connection died, or sshd ended the session itself; which steps ran is unknown.
    const message = this.opened?.connected()
      ? `the shell session on ${this.host.target} ended without an exit status while it ran a batch`
      : `lost the connection to ${this.host.target} while running a batch`;
    this.finish({ error: new ExecError('host-unreachable', message) });
  }

  private finish(outcome: { exitCode: number; timedOut: boolean } | { error: Error }): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    clearTimeout(b.safetyNet);
    if ('error' in outcome) return b.reject(outcome.error);
    if (outcome.timedOut && this.state !== 'closed') this.discard();
    b.resolve({
      exitCode: outcome.exitCode,
      timedOut: outcome.timedOut,
      stdout: b.out.text(),
      stderr: b.err.text(),
      ms: performance.now() - b.started,
    });
  }
}
