/**
 * The shell-session protocol (src/exec/shell-session.ts) against a local stand-in for an SSH exec channel: `bash -c
 * <command>` as sshd runs it, its output handed over in pieces of 1–7 bytes, so every marker arrives split at every
 * possible place. Over a real sshd: test/integration/batch-session.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ClientChannel } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { echoStep, ranIds } from '../helpers/batch-steps.js';
import { BatchIncompleteError, runBatch, type BatchStep } from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { LocalExecutor } from '../../src/exec/local.js';
import { ShellSessionPool, type SessionHost } from '../../src/exec/shell-session.js';

const exec = new LocalExecutor();
const dir = mkdtempSync(join(tmpdir(), 'netplumb-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Enough of ssh2's ClientChannel for a session: data on itself and on .stderr, write, close, 'exit' then 'close'. */
class LocalChannel extends EventEmitter {
  readonly stderr = new EventEmitter();
  readonly child: ChildProcess;
  private closed = false;
  private seed = 7;

  constructor(command: string, prefix = '') {
    super();
    this.child = spawn('bash', ['-c', prefix + command], { stdio: 'pipe', detached: true });
    this.child.stdout!.on('data', (c: Buffer) => this.pieces(c, (p) => this.emit('data', p)));
    this.child.stderr!.on('data', (c: Buffer) => this.pieces(c, (p) => this.stderr.emit('data', p)));
    for (const s of [this.child.stdin!, this.child.stdout!, this.child.stderr!]) s.on('error', () => {});
    this.child.on('exit', (code, signal) => this.emit('exit', code, signal?.replace(/^SIG/, '')));
    this.child.on('close', () => this.finish());
  }

  write(data: string): boolean {
    return this.child.stdin!.write(data);
  }

  /** As sshd does on CHANNEL_CLOSE: the pipes to the process are closed; it is not signalled. */
  close(): void {
    this.child.stdin!.destroy();
    this.child.stdout!.destroy();
    this.child.stderr!.destroy();
    setImmediate(() => this.finish());
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  private pieces(chunk: Buffer, emit: (p: Buffer) => void): void {
    for (let at = 0; at < chunk.length;) {
      this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (this.seed % 7);
      emit(chunk.subarray(at, at + n));
      at += n;
    }
  }
}

interface Fixture {
  pool: ShellSessionPool;
  channels: LocalChannel[];
  /** Channels whose slot has not come back. */
  held(): number;
  oneOffs: number;
  slotWanted: boolean;
}

function fixture(opts: { max?: number; idleMs?: number; loginPrints?: boolean } = {}): Fixture {
  const f: Fixture = {
    channels: [],
    held: () => f.channels.length - released.size,
    oneOffs: 0,
    slotWanted: false,
    pool: undefined as unknown as ShellSessionPool,
  };
  const released = new Set<LocalChannel>();
  const host: SessionHost = {
    target: 'local',
    openChannel: async (command) => {
      const channel = new LocalChannel(command, opts.loginPrints ? 'echo Welcome; echo "conda: hello" >&2; ' : '');
      f.channels.push(channel);
      return { channel: channel as unknown as ClientChannel, release: () => released.add(channel), connected: () => true };
    },
    runScript: (script, timeoutMs) => {
      f.oneOffs++;
      return exec.run(['sh', '-s'], { timeoutMs, stdin: script });
    },
    slotWanted: () => f.slotWanted,
  };
  f.pool = new ShellSessionPool(host, { max: opts.max ?? 2, idleMs: opts.idleMs ?? 30_000 });
  return f;
}

const step = echoStep;
const hex = fc.stringMatching(/^[0-9a-f]{8,32}$/);
const text = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('\n', '@np:', ' X 0\n', ' X\n', 'nb_', "'", '$(id)', '}'),
      hex.map((h) => `\n@np:${h} X 0\n`),
    ),
    { maxLength: 5 },
  )
  .map((parts) => parts.join('').replaceAll('\0', ''));
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('ShellSessionPool (a local stand-in for the SSH channel)', () => {
  it('returns what each step run alone returns, batch after batch on one session, whatever the output looks like', async () => {
    const f = fixture();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ out: text, err: text, code: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), extraOk: fc.boolean() }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        async (specs) => {
          const file = join(dir, `ran-${n++}`);
          const steps = specs.map((s, i) => step(s.out, s.err, s.code, String(i), file, s.extraOk ? [0, s.code] : undefined));
          const firstBad = specs.findIndex((s, i) => !(steps[i]!.okExitCodes ?? [0]).includes(s.code));
          const count = firstBad === -1 ? steps.length : firstBad + 1;
          const batch = await f.pool.run(steps);
          expect(batch).toMatchObject({
            timedOut: false,
            stoppedAt: firstBad === -1 ? null : firstBad,
            preamble: { stdout: '', stderr: '' },
          });
          expect(batch.results).toHaveLength(count);
          expect(ranIds(file)).toEqual(steps.slice(0, count).map((_, i) => String(i)));
          for (let i = 0; i < count; i++) {
            const alone = await exec.run(steps[i]!.argv);
            const got = batch.results[i]!;
            expect([got.exitCode, got.stdout, got.stderr, got.timedOut]).toEqual([alone.exitCode, alone.stdout, alone.stderr, false]);
          }
        },
      ),
      { numRuns: 60 },
    );
    expect(f.channels).toHaveLength(1);
    expect(f.oneOffs).toBe(0);
    f.pool.close();
  });

  it('the login shell’s output is the first batch’s preamble; steps see the environment a one-off batch sees', async () => {
    const f = fixture({ loginPrints: true });
    const steps: BatchStep[] = [{ argv: ['env'] }, { argv: ['ls', '/proc/self/fd'] }];
    const first = await f.pool.run(steps);
    const second = await f.pool.run(steps);
    expect(first.preamble).toEqual({ stdout: 'Welcome\n', stderr: 'conda: hello\n' });
    expect(second.preamble).toEqual({ stdout: '', stderr: '' });
    const oneOff = await runBatch(
      { kind: 'local', run: (argv, o) => exec.run(['bash', '-c', 'timeout 30 "$@"', '_', ...argv], o), close: async () => {} },
      steps,
    );
    const lines = (s: string) =>
      s
        .split('\n')
        .filter((l) => !/^(SHLVL|_)=/.test(l))
        .sort();
    expect(lines(second.results[0]!.stdout)).toEqual(lines(oneOff.results[0]!.stdout));
    expect(second.results[0]!.stdout).toMatch(/^_=.*\/timeout$/m); // as bash sets it for `timeout …` run alone
    expect(second.results[1]!.stdout).toBe(oneOff.results[1]!.stdout);
    f.pool.close();
  });

  it('a timeout ends the batch and what it started, and discards the session', async () => {
    const f = fixture();
    const file = join(dir, 'timeout');
    await f.pool.run([{ argv: ['true'] }]);
    const r = await f.pool.run(
      [
        step('first\n', 'e1', 0, '0', file),
        { argv: ['sh', '-c', 'printf partial; printf perr >&2; sleep 30.0311 & wait'] },
        step('', '', 0, '2', file),
      ],
      {
        timeoutMs: 1000,
      },
    );
    expect(r).toMatchObject({ timedOut: true, stoppedAt: 1 });
    expect(r.results[0]).toMatchObject({ exitCode: 0, stdout: 'first\n', stderr: 'e1', timedOut: false });
    expect(r.results[1]).toMatchObject({ exitCode: 124, stdout: 'partial', stderr: 'perr', timedOut: true });
    expect(f.pool.stats.open).toBe(0);
    await sleep(100);
    expect((await exec.run(['pgrep', '-f', '^sleep 30.0311$'])).stdout).toBe('');
    expect(ranIds(file)).toEqual(['0']);
    expect(f.held()).toBe(0);
    expect((await f.pool.run([{ argv: ['echo', 'next'] }])).results[0]!.stdout).toBe('next\n');
    expect(f.channels).toHaveLength(2);
    f.pool.close();
  });

  it('a session shell killed mid-batch: BatchIncompleteError, no later step runs, nothing is sent again', async () => {
    const f = fixture();
    const file = join(dir, 'killed');
    await f.pool.run([{ argv: ['true'] }]);
    const pending = f.pool
      .run([
        step('x', '', 0, '0', file),
        { argv: ['sh', '-c', 'printf "%s\\n" 1 >> "$1"; sleep 0.5', '_', file] },
        step('', '', 0, '2', file),
      ])
      .catch((e: unknown) => e);
    await sleep(200);
    f.channels[0]!.child.kill('SIGKILL');
    const err = await pending;
    expect(err).toBeInstanceOf(BatchIncompleteError);
    expect((err as BatchIncompleteError).results.map((x) => x.stdout)).toEqual(['x']);
    expect((err as BatchIncompleteError).runningStep).toBe(1);
    await sleep(700);
    expect(ranIds(file)).toEqual(['0', '1']);
    expect(f.held()).toBe(0);
    expect((await f.pool.run([{ argv: ['echo', 'next'] }])).results[0]!.stdout).toBe('next\n');
    expect(f.channels).toHaveLength(2);
    f.pool.close();
  });

  it('a channel that closes without an exit status rejects with ExecError', async () => {
    const f = fixture();
    const pending = f.pool.run([{ argv: ['sleep', '0.5'] }]).catch((e: unknown) => e);
    await sleep(100);
    f.channels[0]!.close();
    expect(await pending).toBeInstanceOf(ExecError);
  });

  it('at most `max` sessions: more concurrent batches run as one-offs, each with its own results', async () => {
    const f = fixture({ max: 2 });
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => f.pool.run([{ argv: ['sh', '-c', 'sleep 0.1; echo "$1"; echo "e$1" >&2', '_', String(i)] }])),
    );
    expect(rs.map((r) => [r.results[0]!.stdout, r.results[0]!.stderr])).toEqual(Array.from({ length: 6 }, (_, i) => [`${i}\n`, `e${i}\n`]));
    expect(f.channels).toHaveLength(2);
    expect(f.oneOffs).toBe(4);
    expect(f.pool.stats).toEqual({ open: 2, idle: 2 });
    f.pool.close();
  });

  it('idle sessions close after idleMs, at once when work waits for a channel, and when output arrives between batches', async () => {
    const f = fixture({ idleMs: 300 });
    await f.pool.run([{ argv: ['true'] }]);
    expect(f.pool.stats).toEqual({ open: 1, idle: 1 });
    await sleep(600);
    expect(f.pool.stats.open).toBe(0);
    expect(f.held()).toBe(0);

    f.slotWanted = true;
    await f.pool.run([{ argv: ['true'] }]);
    expect(f.pool.stats.open).toBe(0);
    f.slotWanted = false;

    // A step leaves a process behind that writes into the session later: the session cannot be trusted any more.
    await f.pool.run([{ argv: ['sh', '-c', '(sleep 0.2; echo late) &'] }]);
    expect(f.pool.stats.open).toBe(1);
    await sleep(400);
    expect(f.pool.stats.open).toBe(0);
    expect((await f.pool.run([{ argv: ['echo', 'clean'] }])).results[0]).toMatchObject({ stdout: 'clean\n', stderr: '' });
    f.pool.close();
  });

  it('a batch it cannot express throws before anything is sent; an empty batch runs nothing', async () => {
    const f = fixture();
    await expect(f.pool.run([{ argv: ['echo', 'a\0b'] }])).rejects.toThrow(TypeError);
    expect(await f.pool.run([])).toMatchObject({ results: [], stoppedAt: null });
    expect(f.channels).toHaveLength(0);
  });
});
