import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { lazyModule } from '../lazy.js';
import { ExecError } from './errors.js';
import { fingerprintOfKey, normalizeFingerprint } from './fingerprint.js';
import { readPrivateKeyFile, UnusableKeyError } from './keys.js';
import { OutputBuffer } from './local.js';
import { quoteArgv } from './quote.js';
import type { BatchOptions, BatchResult, BatchStep } from './batch.js';
import { Semaphore } from './semaphore.js';
import { ShellSessionPool } from './shell-session.js';
import { signalNumber } from './signals.js';
import { boundedWait, shownWait } from './waits.js';
import { DEFAULT_TIMEOUT_MS, type Executor, type ExecutorStats, type RunOptions, type RunResult } from './types.js';

/** ssh2 loads on first connection (src/lazy.ts). */
const loadSsh2 = lazyModule<typeof import('ssh2')>('ssh2');

export { fingerprintOfKey } from './fingerprint.js';

export interface SshExecutorConfig {
  address: string;
  /** Default 22. */
  port?: number;
  /** Default root. */
  user?: string;
  /** PEM/OpenSSH private key text. One of privateKey or privateKeyPath is required. */
  privateKey?: string;
  /** Read when connecting, not at construction, so a rotated key file is picked up on reconnect. */
  privateKeyPath?: string;
  /** When set, privateKeyPath must resolve (symlinks followed) to a file inside this directory. */
  keyDir?: string;
  /** Told why a key file was refused (the service log). */
  warn?: (msg: string) => void;
  /** The pinned host key, as `ssh-keygen -lf` prints it: `SHA256:<base64, no padding>`. */
  hostKeySha256: string;
  /** Channels (commands, streams) open at once on the connection. Default 8 (sshd's MaxSessions is 10). */
  maxChannels?: number;
  /** Default 10 000; the connection is dropped after 3 unanswered keepalives. */
  keepaliveIntervalMs?: number;
  /** TCP connect + handshake + authentication. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Persistent shell sessions that run batches (runBatch), so the login shell starts once per session, not per batch:
   * at most this many open at once, each holding a channel. Default 2; 0: every batch is a one-off `sh -s`.
   */
  shellSessions?: number;
  /** An idle shell session is closed after this long. Default 30 000. */
  shellSessionIdleMs?: number;
  /** The longest a command, batch or stream waits for a channel slot before it fails with a timeout. Default 120 000. */
  slotWaitMs?: number;
}

/** How long work waits for a channel slot by default: slots free up as commands end (each bounded by its own timeout). */
export const SLOT_WAIT_MS = 120_000;

/** The remote `timeout` gets this long after its TERM before it sends KILL. */
const KILL_AFTER_S = 5;
/** The local safety net fires this long after timeoutMs, after the remote KILL should have happened. */
const LOCAL_GRACE_MS = 10_000;

/**
 * ssh2 emits 'close' on an exec channel only once its readable side has ended, that is once someone has read it to
 * the end. A stream nobody reads any more (an http.Agent's socket after its last response; one the agent destroyed
 * because its free list was full) would never see 'close' after the host closed it: its channel slot would never come
 * back, and the agent would count the socket as in use forever. Issue 33: the Docker agent's streams leaked so until
 * every Docker lookup queued behind them for good. So when the host closes a stream (CHANNEL_CLOSE: ssh2 marks the
 * incoming side closed, then pushes the end), what is left is drained: 'end' comes, and with it 'close'.
 */
function drainedWhenClosed(channel: ClientChannel): ClientChannel {
  const push = channel.push.bind(channel);
  const incoming = (channel as unknown as { incoming?: { state?: string } }).incoming;
  channel.push = (chunk: unknown, encoding?: BufferEncoding) => {
    const more = push(chunk, encoding);
    if (chunk === null && incoming?.state === 'closed') setImmediate(() => channel.resume());
    return more;
  };
  return channel;
}

/** One SSH connection and whether it can still carry channels. */
interface Connection {
  readonly client: Client;
  alive: boolean;
  /** Channels open on it: ended when the connection is lost, so nothing waits on a dead one. */
  readonly channels: Set<ClientChannel>;
  /** Unix sockets forwarded on it (or being bound), by path. */
  binds?: Map<string, Promise<void>>;
}

/**
 * Runs argv on a remote host over one persistent SSH connection (ssh2), shared by all
 * concurrent runs, at most maxChannels channels at a time. The host key is pinned;
 * every command is wrapped in the remote `timeout`; a failed connection is thrown away
 * and the next run connects afresh. Batches run on persistent shell sessions
 * (shell-session.ts), whose channels count against the same maxChannels.
 */
export class SshExecutor implements Executor {
  readonly kind = 'ssh' as const;
  private readonly port: number;
  private readonly user: string;
  private readonly slots: Semaphore;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  /** Every client not yet closed, so close() can end even one still connecting. */
  private readonly clients = new Set<Client>();
  private connectionsOpened = 0;
  private readonly sessions: ShellSessionPool;
  /** Unix sockets served on the host over stream-local forwarding (path → who takes each connection). */
  private readonly forwards = new Map<string, (stream: Duplex) => void>();
  private closed = false;
  private rebindTimer: NodeJS.Timeout | undefined;

  constructor(private readonly config: SshExecutorConfig) {
    this.port = config.port ?? 22;
    this.user = config.user ?? 'root';
    this.slots = new Semaphore(config.maxChannels ?? 8);
    this.sessions = new ShellSessionPool(
      {
        target: this.target,
        openChannel: async (command, ms) => {
          const release = await this.acquireSlot();
          try {
            const { conn, channel } = await this.openExecWithin(command, ms);
            return { channel, release, connected: () => conn.alive };
          } catch (err) {
            release();
            throw err;
          }
        },
        runScript: (script, timeoutMs) => this.run(['sh', '-s'], { timeoutMs, stdin: script }),
        slotWanted: () => this.slots.waiting > 0,
      },
      { max: config.shellSessions ?? 2, idleMs: config.shellSessionIdleMs ?? 30_000 },
    );
  }

  /** `address:port`, as used in messages. */
  get target(): string {
    return `${this.config.address}:${this.port}`;
  }

  /** Channels open (or being opened) right now. */
  get activeChannels(): number {
    return this.slots.active;
  }

  /** The most channels ever open at once on this executor. */
  get maxObservedChannels(): number {
    return this.slots.highWater;
  }

  /** How many SSH connections this executor has established (handshake + auth done). */
  get connectionCount(): number {
    return this.connectionsOpened;
  }

  /** Shell sessions open (busy, idle or opening) and idle: each holds a channel. */
  get shellSessions(): { open: number; idle: number } {
    return this.sessions.stats;
  }

  stats(): ExecutorStats {
    const sessions = this.sessions.stats;
    return {
      connected: this.conn?.alive === true,
      connectionsOpened: this.connectionsOpened,
      channelsInUse: this.slots.active,
      shellSessionsInUse: sessions.open - sessions.idle,
      channelLimit: this.slots.limit,
      channelWaiters: this.slots.waiting,
      shellSessionsOpen: sessions.open,
      shellSessionsIdle: sessions.idle,
    };
  }

  /**
   * Runs a batch (runBatch's contract, src/exec/batch.ts) on a persistent shell session (src/exec/shell-session.ts):
   * the login shell starts once per session. When every session is busy the batch runs as a one-off `sh -s`.
   */
  runBatch(steps: readonly BatchStep[], opts: BatchOptions = {}): Promise<BatchResult> {
    return this.sessions.run(steps, opts);
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0 || argv[0] === '') throw new TypeError('SshExecutor.run: argv must name a command');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    // Quote before anything else: an argument with NUL throws here, before we connect.
    const command = `timeout -k ${KILL_AFTER_S} ${seconds} ${quoteArgv(argv)}`;
    const started = performance.now();

    const release = await this.acquireSlot();
    let opened: { conn: Connection; channel: ClientChannel };
    try {
      opened = await this.openExecWithin(command, timeoutMs + LOCAL_GRACE_MS);
    } catch (err) {
      release();
      throw err;
    }
    const { conn, channel } = opened;
    const execStarted = performance.now();

    return new Promise<RunResult>((resolve, reject) => {
      const stdout = new OutputBuffer();
      const stderr = new OutputBuffer();
      let exitCode: number | undefined;
      let settled = false;

      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(safetyNet);
        release();
        fn();
      };
      const result = (code: number, timedOut: boolean): RunResult => ({
        exitCode: code,
        timedOut,
        stdout: stdout.text(),
        stderr: stderr.text(),
        ms: performance.now() - started,
      });

      // The remote timeout should end the command; this covers a connection that went silent.
      const safetyNet = setTimeout(() => {
        settle(() => resolve(result(124, true)));
        channel.close();
      }, timeoutMs + LOCAL_GRACE_MS);

      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('error', () => {}); // surfaced through 'close' below
      channel.stderr.on('error', () => {});
      const noteExit = (code?: number | null, signal?: string) => {
        if (exitCode !== undefined) return;
        if (typeof code === 'number') exitCode = code;
        else if (signal) exitCode = 128 + signalNumber(signal);
      };
      // 'exit' may already have fired: ssh2 parses a whole TCP read at once, so exec's reply, the
      // output, exit-status and close can arrive before this code runs. 'close' repeats the status.
      channel.on('exit', noteExit);
      channel.on('close', (code?: number | null, signal?: string) => {
        noteExit(code, signal);
        if (exitCode !== undefined) {
          // 124: the remote timeout fired; 137: it had to KILL. A command may return those
          // itself, so they only count as a timeout once the time has actually run out.
          const elapsed = performance.now() - execStarted;
          const timedOut = (exitCode === 124 || exitCode === 137) && elapsed >= seconds * 1000 - 50;
          settle(() => resolve(result(exitCode!, timedOut)));
          return;
        }
        // No status: either the connection died (it is already dropped, the next run reconnects)
        // or sshd ended the session itself (e.g. a ChannelTimeout); the outcome is unknown.
        const message = conn.alive
          ? `${this.target} closed the channel running ${argv[0]} without an exit status`
          : `lost the connection to ${this.target} while running ${argv[0]}`;
        settle(() => reject(new ExecError('host-unreachable', message)));
      });

      // stdin is always closed (EOF), so a command that reads it never waits forever. eof() rather
      // than end(): with end(), once output has ended too Node auto-destroys the stream and ssh2's
      // destroy() sends CHANNEL_CLOSE, which could beat the exit status. We let the server close.
      if (opts.stdin !== undefined && opts.stdin.length > 0) channel.write(opts.stdin, () => channel.eof());
      else channel.eof();
    });
  }

  /**
   * Opens argv as a raw byte stream (its stdin/stdout) on the shared connection, e.g.
   * `docker system dial-stdio` to carry Docker API requests. It holds one channel until it
   * closes; stderr is discarded. No remote timeout: the stream lives as long as its user.
   */
  async openStream(argv: readonly string[]): Promise<Duplex> {
    if (argv.length === 0 || argv[0] === '') throw new TypeError('SshExecutor.openStream: argv must name a command');
    const command = quoteArgv(argv);
    const release = await this.acquireSlot();
    try {
      const { channel } = await this.openExecWithin(command, DEFAULT_TIMEOUT_MS);
      channel.once('close', release);
      channel.stderr.resume();
      channel.stderr.on('error', () => {});
      return drainedWhenClosed(channel);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Ends the connection and its shell sessions. A later run connects again. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.rebindTimer);
    this.sessions.close();
    const clients = [...this.clients];
    const live = this.conn;
    this.conn = undefined;
    this.connecting = undefined;
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              client.destroy();
              resolve();
            }, 2000);
            client.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            // A client still connecting has nothing to end politely.
            if (live?.client === client) client.end();
            else client.destroy();
          }),
      ),
    );
  }

  /**
   * A channel slot; when all are taken, an idle shell session gives its own back rather than hold it. The wait is
   * shown on the job's board and bounded (slotWaitMs): a slot that never comes fails the work, it never hangs.
   */
  private acquireSlot(): Promise<() => void> {
    if (this.slots.active >= this.slots.limit) this.sessions.closeIdle();
    if (this.slots.active < this.slots.limit) return this.slots.acquire();
    const { active, limit, waiting } = this.slots;
    const sessions = this.sessions.stats;
    return boundedWait(
      {
        kind: 'channel',
        detail: `a channel slot on ${this.target} (${active} of ${limit} in use, ${sessions.open} by shell sessions; ${waiting} waiting before this one)`,
        host: this.target,
      },
      this.config.slotWaitMs ?? SLOT_WAIT_MS,
      (signal) => this.slots.acquire(signal),
    );
  }

  /** openExec with a deadline: a host that accepted TCP but stopped answering cannot hold a run forever. */
  private async openExecWithin(command: string, ms: number): Promise<{ conn: Connection; channel: ClientChannel }> {
    const open = this.openExec(command);
    let timer: NodeJS.Timeout | undefined;
    let expired = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        reject(new ExecError('host-unreachable', `no answer from ${this.target} within ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([open, deadline]);
    } finally {
      clearTimeout(timer);
      // Too late to use: close the channel if it opens after all.
      if (expired)
        open.then(
          ({ channel }) => channel.close(),
          () => {},
        );
    }
  }

  /** Opens an exec channel; retries once on a new connection if the old one turned out to be dead. */
  private async openExec(command: string): Promise<{ conn: Connection; channel: ClientChannel }> {
    for (let attempt = 0; ; attempt++) {
      // Connecting (or waiting for another caller's attempt) shows on the job's board; connect bounds itself.
      const conn = this.conn?.alive
        ? this.conn
        : await shownWait(
            { kind: 'connection', detail: `connecting to ${this.target} over SSH`, host: this.target },
            this.config.connectTimeoutMs ?? 10_000,
            () => this.connection(),
          );
      try {
        const channel = await new Promise<ClientChannel>((resolve, reject) => {
          conn.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
        });
        conn.channels.add(channel);
        channel.once('close', () => conn.channels.delete(channel));
        if (!conn.alive) channel.destroy(); // lost while the channel opened
        return { conn, channel };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // 'Unable to exec' means the request may have reached the host: never send it twice.
        const neverSent = message === 'Not connected' || message === 'No response from server';
        if (!conn.alive || message === 'Not connected') {
          this.drop(conn);
          if (attempt === 0 && neverSent) continue;
          throw new ExecError('host-unreachable', `cannot reach ${this.target}: connection lost (${message})`);
        }
        throw new ExecError('host-unreachable', `cannot open a channel on ${this.target}: ${message}`);
      }
    }
  }

  /**
   * Serves `path` on the host over OpenSSH's streamlocal-forward@openssh.com: sshd listens there and each
   * connection arrives as a channel. The stale socket file is removed first (sshd's StreamLocalBindUnlink is off
   * by default); the forward is bound again on every new connection (and a lost connection is retried while any
   * socket is served).
   */
  async serveUnixSocket(path: string, onStream: (stream: Duplex) => void): Promise<void> {
    this.forwards.set(path, onStream);
    this.closed = false;
    await this.bindForward(await this.connection(), path);
  }

  /** Binds the forward once per connection (callers share the attempt; a failed one is tried again next time). */
  private bindForward(conn: Connection, path: string): Promise<void> {
    const binds = (conn.binds ??= new Map<string, Promise<void>>());
    let p = binds.get(path);
    if (!p) {
      p = this.bindForwardNow(conn, path);
      binds.set(path, p);
      p.catch(() => binds.delete(path));
    }
    return p;
  }

  private async bindForwardNow(conn: Connection, path: string): Promise<void> {
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    const r = await this.run(['sh', '-c', 'mkdir -p -- "$1" && rm -f -- "$2"', 'sh', dir, path], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) throw new Error(`${this.target}: cannot prepare ${path}: ${r.stderr.trim()}`);
    await new Promise<void>((resolve, reject) =>
      conn.client.openssh_forwardInStreamLocal(path, (err) =>
        err ? reject(new Error(`${this.target}: sshd refused to forward ${path}: ${err.message}`)) : resolve(),
      ),
    );
  }

  /** While sockets are served, a lost connection is made again (with a pause): dockerd needs the plugin back. */
  private scheduleRebind(): void {
    if (this.closed || !this.forwards.size || this.rebindTimer) return;
    this.rebindTimer = setTimeout(() => {
      this.rebindTimer = undefined;
      if (this.closed || this.conn?.alive) return;
      this.connection().catch(() => this.scheduleRebind());
    }, 2000);
    this.rebindTimer.unref();
  }

  /** The live connection, or one being made: concurrent callers share a single attempt. */
  private connection(): Promise<Connection> {
    if (this.conn?.alive) return Promise.resolve(this.conn);
    if (!this.connecting) {
      const attempt = this.connect().finally(() => {
        if (this.connecting === attempt) this.connecting = undefined;
      });
      this.connecting = attempt;
    }
    return this.connecting;
  }

  private drop(conn: Connection): void {
    conn.alive = false;
    if (this.conn === conn) this.conn = undefined;
    // A channel on a lost connection may never hear of it (a kept Docker stream, a shell session): end them all,
    // so every waiter sees 'close' now and the next request opens a new connection.
    for (const channel of [...conn.channels]) channel.destroy();
    conn.channels.clear();
  }

  private async connect(): Promise<Connection> {
    const privateKey = await this.loadPrivateKey();
    const client = new (loadSsh2().Client)();
    const conn: Connection = { client, alive: false, channels: new Set() };
    this.clients.add(client);

    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      let mismatch: ExecError | undefined;
      const fail = (err: ExecError) => {
        if (settled) return;
        settled = true;
        this.drop(conn);
        client.destroy();
        reject(err);
      };

      client.on('ready', () => {
        if (settled) return;
        settled = true;
        conn.alive = true;
        this.conn = conn;
        this.connectionsOpened++;
        resolve(conn);
        // A connection that came back serves the forwarded sockets again.
        for (const path of this.forwards.keys()) void this.bindForward(conn, path).catch(() => this.scheduleRebind());
      });
      // A connection to a forwarded socket on the host: handed to whoever serves that path.
      client.on('unix connection', (info, accept, rejectIt) => {
        const serve = this.forwards.get(info.socketPath);
        if (!serve) return rejectIt();
        serve(accept());
      });
      // Always handled: a dropped connection must never crash the process.
      client.on('error', (err: Error & { level?: string }) => {
        this.drop(conn);
        fail(mismatch ?? this.classify(err));
      });
      // Commands are small request/response exchanges: send every packet at once (no Nagle).
      client.on('connect', () => client.setNoDelay(true));
      client.on('end', () => this.drop(conn));
      client.on('close', () => {
        this.drop(conn);
        this.clients.delete(client);
        if (settled) this.scheduleRebind();
        fail(mismatch ?? new ExecError('host-unreachable', `cannot reach ${this.target}: connection closed during handshake`));
      });

      const options: ConnectConfig = {
        host: this.config.address,
        port: this.port,
        username: this.user,
        privateKey,
        readyTimeout: this.config.connectTimeoutMs ?? 10_000,
        keepaliveInterval: this.config.keepaliveIntervalMs ?? 10_000,
        keepaliveCountMax: 3,
        // Raw key blob in, decision out; runs during key exchange, before any authentication.
        hostVerifier: (key: Buffer): boolean => {
          const actual = fingerprintOfKey(key);
          const expected = normalizeFingerprint(this.config.hostKeySha256);
          if (actual === expected) return true;
          mismatch = new ExecError('host-key-mismatch', `host key mismatch for ${this.target}: expected ${expected}, got ${actual}`, {
            expected,
            actual,
          });
          return false;
        },
      };
      try {
        client.connect(options);
      } catch (err) {
        // ssh2 parses the key synchronously. One message whatever the reason: it must not tell file contents apart.
        fail(
          new ExecError('auth-failed', `cannot use the private key for ${this.target}: not an unencrypted private key (OpenSSH or PEM)`),
        );
      }
    });
  }

  private classify(err: Error & { level?: string }): ExecError {
    if (err.level === 'client-authentication') {
      return new ExecError('auth-failed', `authentication failed for ${this.user}@${this.target} (publickey)`);
    }
    const reason = err.level === 'client-timeout' ? `timed out after ${this.config.connectTimeoutMs ?? 10_000} ms` : err.message;
    return new ExecError('host-unreachable', `cannot reach ${this.target}: ${reason}`);
  }

  private async loadPrivateKey(): Promise<string> {
    if (this.config.privateKey) return this.config.privateKey;
    if (!this.config.privateKeyPath) {
      throw new ExecError('auth-failed', `no private key configured for ${this.target}`);
    }
    try {
      return await readPrivateKeyFile(this.config.privateKeyPath, { keyDir: this.config.keyDir, warn: this.config.warn });
    } catch (err) {
      // Neither the path, the reason nor anything read from it goes into messages (see keys.ts).
      if (err instanceof UnusableKeyError) throw new ExecError('auth-failed', `${this.target}: ${err.message}`);
      throw err;
    }
  }
}
