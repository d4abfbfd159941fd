/**
 * SshExecutor.runBatch over a real sshd: batches on persistent shell sessions. Three sandbox hosts (no dockerd): a
 * plain one, one whose root ~/.bashrc sleeps 300 ms and counts its runs (slowShellMs), and one whose ~/.bashrc prints
 * on both streams. Everything is made with the prefix `bs` and removed in afterAll by the sandbox's manifest (pid
 * files), also on failure.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_STEP, ranIds } from '../helpers/batch-steps.js';
import { BatchIncompleteError, runBatch, type BatchResult, type BatchStep } from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { SshExecutor, type SshExecutorConfig } from '../../src/exec/ssh.js';
import { down, up, type Sandbox } from '../testbed/sandbox.js';

const PREFIX = 'bs';
const SLOW_MS = 300;

let sb: Sandbox;
const executors: SshExecutor[] = [];
function executorFor(host: string, extra: Partial<SshExecutorConfig> = {}): SshExecutor {
  const h = sb.host(host);
  const ex = new SshExecutor({
    address: h.mgmtIp,
    port: h.sshPort,
    privateKeyPath: sb.clientKeyPath,
    hostKeySha256: h.hostKeySha256,
    ...extra,
  });
  executors.push(ex);
  return ex;
}

beforeAll(async () => {
  await down(PREFIX).catch(() => undefined);
  sb = await up({
    prefix: PREFIX,
    withDocker: false,
    hosts: [
      { name: 'plain', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
      { name: 'slow', underlayCidr: '10.10.10.102/24', underlayGw: '10.10.10.1', slowShellMs: SLOW_MS },
      { name: 'noisy', underlayCidr: '10.10.10.103/24', underlayGw: '10.10.10.1' },
    ],
  });
  // Before the stock "not interactive? return", as a motd-printing or conda-init .bashrc does it.
  const rc = path.join(sb.host('noisy').homeDir, '.bashrc');
  await fs.writeFile(rc, `echo Welcome\necho "conda: hello" >&2\n${await fs.readFile(rc, 'utf8').catch(() => '')}`);
});

afterAll(async () => {
  await closeExecutors();
  await down(PREFIX);
});

/** Closes every executor made so far: their idle sessions would count among the shells a test looks for. */
async function closeExecutors(): Promise<void> {
  await Promise.all(executors.splice(0).map((e) => e.close()));
}

const text = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('\n', '@np:', '\n@np:0123abcd X 0\n', '\nné', "'", '$(id)', '`id`', '}', 'nb_'),
    ),
    {
      maxLength: 4,
    },
  )
  .map((parts) => parts.join('').replaceAll('\0', ''));
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
/** A result without its times (they differ from run to run). */
const timeless = (r: BatchResult) => ({ ...r, ms: 0, results: r.results.map((x) => ({ ...x, ms: 0 })) });

describe('SshExecutor.runBatch: batches on a persistent shell session', () => {
  it('returns what each step run alone over SSH returns, and stops at the first step that is not ok, batch after batch on one session', async () => {
    const ex = executorFor('plain');
    const dir = path.join(sb.host('plain').homeDir, 'prop');
    await fs.mkdir(dir, { recursive: true });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ out: text, err: text, code: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), extraOk: fc.boolean() }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        async (specs) => {
          const file = path.join(dir, `ran-${n++}`);
          const steps: BatchStep[] = specs.map((s, i) => ({
            argv: ['sh', '-c', ECHO_STEP, '_', s.out, s.err, String(s.code), String(i), file],
            ...(s.extraOk ? { okExitCodes: [0, s.code] } : {}),
          }));
          const firstBad = steps.findIndex((s, i) => !(s.okExitCodes ?? [0]).includes(specs[i]!.code));
          const count = firstBad === -1 ? steps.length : firstBad + 1;

          const batch = await ex.runBatch(steps);
          expect(batch.timedOut).toBe(false);
          expect(batch.stoppedAt).toBe(firstBad === -1 ? null : firstBad);
          expect(batch.results).toHaveLength(count);
          expect(batch.preamble).toEqual({ stdout: '', stderr: '' });
          expect(ranIds(file)).toEqual(steps.slice(0, count).map((_, i) => String(i)));
          for (let i = 0; i < count; i++) {
            const alone = await ex.run(steps[i]!.argv);
            const got = batch.results[i]!;
            expect([got.exitCode, got.stdout, got.stderr, got.timedOut]).toEqual([alone.exitCode, alone.stdout, alone.stderr, false]);
          }
        },
      ),
      { numRuns: 25 },
    );
    // All on one session: batches one after another never needed a second.
    expect(ex.shellSessions).toEqual({ open: 1, idle: 1 });
  });

  it('steps see what a run alone sees: environment, open files, stdin', async () => {
    const ex = executorFor('plain');
    const probes: BatchStep[] = [{ argv: ['env'] }, { argv: ['ls', '/proc/self/fd'] }, { argv: ['cat'] }, { argv: ['cat'], stdin: 'in\n' }];
    await ex.runBatch([{ argv: ['true'] }]); // the session exists: the next batch is not its first
    const session = await ex.runBatch(probes);
    const oneOff = await runBatch(ex, probes);
    const sorted = (s: string) => s.split('\n').sort();
    expect(sorted(session.results[0]!.stdout)).toEqual(sorted((await ex.run(['env'])).stdout));
    expect(sorted(session.results[0]!.stdout)).toEqual(sorted(oneOff.results[0]!.stdout));
    expect(session.results.slice(1).map((r) => r.stdout)).toEqual(oneOff.results.slice(1).map((r) => r.stdout));
    expect(session.results[1]!.stdout).toBe('0\n1\n2\n3\n'); // ls's own fd 3: the session's fd 3 is not passed on
  });

  it('pays the login shell start-up once per session: 10 batches, one ~/.bashrc run; results as one-off batches', async () => {
    const ex = executorFor('slow');
    const starts = path.join(sb.host('slow').homeDir, '.shell-starts');
    const count = () => (existsSync(starts) ? readFileSync(starts, 'utf8').split('\n').length - 1 : 0);
    await ex.run(['true']); // connect first: the connection itself is not what is counted
    const batches: BatchStep[][] = Array.from({ length: 10 }, (_, b) => [
      { argv: ['echo', `batch ${b}`] },
      { argv: ['sh', '-c', 'echo "$1" >&2; exit "$2"', '_', `err ${b}`, String(b % 3)], okExitCodes: [0, 1] },
      { argv: ['cat'], stdin: `in ${b}` },
    ]);

    let before = count();
    let t = performance.now();
    const oneOff: BatchResult[] = [];
    for (const steps of batches) oneOff.push(await runBatch(ex, steps));
    const oneOffMs = performance.now() - t;
    expect(count() - before).toBe(10);

    before = count();
    t = performance.now();
    const onSession: BatchResult[] = [];
    for (const steps of batches) onSession.push(await ex.runBatch(steps));
    const sessionMs = performance.now() - t;
    expect(count() - before).toBe(1);
    expect(onSession.map(timeless)).toEqual(oneOff.map(timeless));
    expect(onSession.map((r) => r.stoppedAt)).toEqual(batches.map((_, b) => (b % 3 === 2 ? 1 : null)));
    // Reported, not asserted: the machine is shared.
    console.log(
      `10 batches of 3 steps with a ${SLOW_MS} ms .bashrc: one-off ${oneOffMs.toFixed(0)} ms, on a session ${sessionMs.toFixed(0)} ms`,
    );
  });

  it('what the login shell prints is the preamble of the session’s first batch, and never step output', async () => {
    const ex = executorFor('noisy');
    const steps: BatchStep[] = [{ argv: ['echo', 'hi'] }, { argv: ['sh', '-c', 'echo oops >&2'] }];
    const oneOff = await runBatch(ex, steps);
    expect(oneOff.preamble).toEqual({ stdout: 'Welcome\n', stderr: 'conda: hello\n' });
    const first = await ex.runBatch(steps);
    const second = await ex.runBatch(steps);
    expect(timeless(first)).toEqual(timeless(oneOff));
    expect(timeless(second)).toEqual({ ...timeless(oneOff), preamble: { stdout: '', stderr: '' } });
  });

  it('concurrent batches return their own results; channels stay within maxChannels, also when sessions must yield theirs', async () => {
    for (const maxChannels of [8, 2]) {
      const ex = executorFor('plain', { maxChannels });
      let highest = 0;
      const sampler = setInterval(() => (highest = Math.max(highest, ex.activeChannels)), 1);
      try {
        for (let round = 0; round < 3; round++) {
          const results = await Promise.all(
            Array.from({ length: 6 }, (_, b) =>
              ex.runBatch([
                { argv: ['sh', '-c', 'sleep 0.05; echo "$1"', '_', `out ${round}.${b}`] },
                { argv: ['sh', '-c', 'echo "$1" >&2', '_', `err ${round}.${b}`] },
              ]),
            ),
          );
          results.forEach((r, b) => {
            expect(r.stoppedAt).toBeNull();
            expect(r.results.map((x) => [x.stdout, x.stderr])).toEqual([
              [`out ${round}.${b}\n`, ''],
              ['', `err ${round}.${b}\n`],
            ]);
          });
          // A plain run is not held up by idle sessions keeping channels.
          const t = performance.now();
          expect((await ex.run(['true'])).exitCode).toBe(0);
          expect(performance.now() - t).toBeLessThan(5000);
        }
      } finally {
        clearInterval(sampler);
      }
      expect(highest).toBeLessThanOrEqual(maxChannels);
      expect(ex.maxObservedChannels).toBeLessThanOrEqual(maxChannels);
      expect(ex.shellSessions.open).toBeLessThanOrEqual(2);
    }
  });

  it('a batch past its time ends everything it started on the host; the next batch runs on a new session', async () => {
    const ex = executorFor('slow');
    const home = sb.host('slow').homeDir;
    const file = path.join(home, 'timeout-ran');
    const starts = path.join(home, '.shell-starts');
    const count = () => (existsSync(starts) ? readFileSync(starts, 'utf8').split('\n').length - 1 : 0);
    await ex.runBatch([{ argv: ['true'] }]); // a session, warm
    const before = count();
    const t = performance.now();
    const r = await ex.runBatch(
      [
        { argv: ['sh', '-c', 'echo first; printf "%s\\n" 0 >> "$1"', '_', file] },
        { argv: ['sh', '-c', 'printf partial; sleep 60.0417 & wait'] },
        { argv: ['sh', '-c', 'printf "%s\\n" 2 >> "$1"', '_', file] },
      ],
      { timeoutMs: 2000 },
    );
    expect(performance.now() - t).toBeLessThan(5000);
    expect(r.timedOut).toBe(true);
    expect(r.stoppedAt).toBe(1);
    expect(r.results[0]).toMatchObject({ exitCode: 0, stdout: 'first\n', timedOut: false });
    expect(r.results[1]).toMatchObject({ stdout: 'partial', timedOut: true });
    expect(count() - before).toBe(0);
    // The sleep (a grandchild of the batch shell) is gone within a few seconds, and step 2 never runs.
    await waitFor(async () => (await pgrep('^sleep 60.0417$')).length === 0, 3000);
    await sleep(300);
    expect(ranIds(file)).toEqual(['0']);
    expect(ex.shellSessions.open).toBe(0);
    const next = await ex.runBatch([{ argv: ['echo', 'next'] }]);
    expect(next.results[0]!.stdout).toBe('next\n');
    expect(count() - before).toBe(1);
  });

  for (const which of ['session shell', 'batch shell'] as const) {
    it(`the ${which} killed mid-batch: the batch rejects, no later step runs, the next batch works`, async () => {
      await closeExecutors();
      const ex = executorFor('plain');
      const home = sb.host('plain').homeDir;
      const ran = path.join(home, `kill-ran-${which.replace(' ', '-')}`);
      const started = path.join(home, `kill-started-${which.replace(' ', '-')}`);
      await ex.runBatch([{ argv: ['true'] }]); // kill a session that already served a batch
      const steps: BatchStep[] = [
        { argv: ['sh', '-c', 'echo zero; printf "%s\\n" 0 >> "$1"', '_', ran] },
        { argv: ['sh', '-c', 'printf "%s\\n" 1 >> "$1"; : > "$2"; sleep 2', '_', ran, started] },
        { argv: ['sh', '-c', 'printf "%s\\n" 2 >> "$1"', '_', ran] },
      ];
      const outcome = ex.runBatch(steps).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await waitFor(async () => existsSync(started), 10_000);
      const shells = shellsUnder(sb.host('plain').sshdPidFile).filter((p) => p.parent === (which === 'session shell' ? 'sshd' : 'timeout'));
      expect(shells).toHaveLength(1);
      process.kill(shells[0]!.pid, 'SIGKILL');
      const err = await outcome;
      // The channel says how the session shell ended (killed, or its batch shell was: 137): what completed is known.
      expect(err).toBeInstanceOf(BatchIncompleteError);
      expect((err as BatchIncompleteError).results.map((x) => x.stdout)).toEqual(['zero\n']);
      expect((err as BatchIncompleteError).runningStep).toBe(1);
      expect((err as BatchIncompleteError).run.exitCode).toBe(137);
      // Step 1 was running; step 2 must never run, also after step 1's sleep.
      await sleep(3000);
      expect(ranIds(ran)).toEqual(['0', '1']);
      expect(ex.shellSessions.open).toBe(0);
      expect(ex.activeChannels).toBe(0);
      expect((await ex.runBatch([{ argv: ['echo', 'next'] }])).results[0]!.stdout).toBe('next\n');
    });
  }

  it('an idle session is closed after the idle time; close() ends a busy one', async () => {
    await closeExecutors();
    const ex = executorFor('plain', { shellSessionIdleMs: 500 });
    const sshdPidFile = sb.host('plain').sshdPidFile;
    const before = shellsUnder(sshdPidFile).length;
    await ex.runBatch([{ argv: ['true'] }]);
    expect(ex.shellSessions).toEqual({ open: 1, idle: 1 });
    expect(ex.activeChannels).toBe(1);
    expect(shellsUnder(sshdPidFile).length).toBe(before + 1);
    await waitFor(async () => ex.activeChannels === 0, 3000);
    expect(ex.shellSessions).toEqual({ open: 0, idle: 0 });
    await waitFor(async () => shellsUnder(sshdPidFile).length === before, 3000); // the remote shell ended too
    // Used again: a new session, idle-timed again.
    expect((await ex.runBatch([{ argv: ['echo', 'again'] }])).results[0]!.stdout).toBe('again\n');
    expect(ex.shellSessions.open).toBe(1);
    // close() while a batch runs: the batch rejects, the session is gone, the executor works afterwards.
    const busy = ex.runBatch([{ argv: ['sleep', '5'] }]).catch((e: unknown) => e);
    await sleep(300);
    await ex.close();
    expect(await busy).toBeInstanceOf(ExecError);
    expect(ex.shellSessions.open).toBe(0);
    expect((await ex.runBatch([{ argv: ['echo', 'after close'] }])).results[0]!.stdout).toBe('after close\n');
  });
});

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(20);
  }
}

async function pgrep(pattern: string): Promise<string[]> {
  try {
    const { stdout } = await promisify(execFile)('pgrep', ['-f', pattern]);
    return stdout.split('\n').filter(Boolean);
  } catch {
    return []; // exit 1: none
  }
}

/** Every `sh -s` among the descendants of the sshd whose pid file is given, with its parent's name (sshd: a session shell; timeout: a batch shell). */
function shellsUnder(sshdPidFile: string): { pid: number; parent: string }[] {
  const listener = Number(readFileSync(sshdPidFile, 'utf8').trim());
  const procs = new Map<number, { ppid: number; comm: string; cmdline: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(entry), { ppid, comm, cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8') });
    } catch {
      // exited meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid; p !== undefined && p > 1; p = procs.get(p)?.ppid) if (p === listener) return true;
    return false;
  };
  return [...procs]
    .filter(([pid, p]) => p.cmdline === 'sh\0-s\0' && under(pid))
    .map(([pid, p]) => ({ pid, parent: procs.get(p.ppid)?.comm ?? '' }));
}
