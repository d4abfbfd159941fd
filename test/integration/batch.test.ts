/**
 * Batches over a real sshd: two sandbox hosts (no dockerd), one plain and one whose root
 * ~/.bashrc sleeps 300 ms and counts its runs (slowShellMs). Everything is made with the
 * prefix `bx` and removed in afterAll by the sandbox's manifest (pid files), also on failure.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_STEP, ranIds } from '../helpers/batch-steps.js';
import { runBatch, type BatchStep } from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { SshExecutor } from '../../src/exec/ssh.js';
import { down, up, type Sandbox } from '../testbed/sandbox.js';

const PREFIX = 'bx';
const SLOW_MS = 300;

let sb: Sandbox;
const executors: SshExecutor[] = [];
function executorFor(host: string): SshExecutor {
  const h = sb.host(host);
  const ex = new SshExecutor({ address: h.mgmtIp, port: h.sshPort, privateKeyPath: sb.clientKeyPath, hostKeySha256: h.hostKeySha256 });
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
    ],
  });
});

afterAll(async () => {
  await Promise.all(executors.map((e) => e.close()));
  await down(PREFIX);
});

const text = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('\n', '@np:', '\n@np:0123abcd E 0 0 1.0\n', "'", '$(id)', '`id`', '}'),
    ),
    {
      maxLength: 4,
    },
  )
  .map((parts) => parts.join('').replaceAll('\0', ''));

describe('runBatch over SSH', () => {
  it('returns what each step run alone over SSH returns, and stops at the first step that is not ok', async () => {
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

          const batch = await runBatch(ex, steps);
          expect(batch.stoppedAt).toBe(firstBad === -1 ? null : firstBad);
          expect(batch.results).toHaveLength(count);
          expect(ranIds(file)).toEqual(steps.slice(0, count).map((_, i) => String(i)));
          for (let i = 0; i < count; i++) {
            const alone = await ex.run(steps[i]!.argv);
            const got = batch.results[i]!;
            expect([got.exitCode, got.stdout, got.stderr, got.timedOut]).toEqual([alone.exitCode, alone.stdout, alone.stderr, false]);
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('pays the login shell start-up once per batch: 10 steps, one ~/.bashrc run (10 alone: 10 runs)', async () => {
    const ex = executorFor('slow');
    const starts = path.join(sb.host('slow').homeDir, '.shell-starts');
    const count = () => (existsSync(starts) ? readFileSync(starts, 'utf8').split('\n').length - 1 : 0);
    await ex.run(['true']); // connect first: the connection itself is not what is counted
    const steps: BatchStep[] = Array.from({ length: 10 }, (_, i) => ({ argv: ['echo', `step ${i}`] }));

    let before = count();
    let t = performance.now();
    for (const s of steps) expect((await ex.run(s.argv)).exitCode).toBe(0);
    const aloneMs = performance.now() - t;
    expect(count() - before).toBe(10);

    before = count();
    t = performance.now();
    const batch = await runBatch(ex, steps);
    const batchMs = performance.now() - t;
    expect(count() - before).toBe(1);
    expect(batch.stoppedAt).toBeNull();
    expect(batch.results.map((r) => r.stdout)).toEqual(steps.map((_, i) => `step ${i}\n`));
    // Reported, not asserted: the machine is shared.
    console.log(`10 trivial steps with a ${SLOW_MS} ms .bashrc: one by one ${aloneMs.toFixed(0)} ms, one batch ${batchMs.toFixed(0)} ms`);
  });

  it('a batch past its time is ended on the host: the running step is timedOut, nothing after it runs', async () => {
    const ex = executorFor('plain');
    const file = path.join(sb.host('plain').homeDir, 'timeout-ran');
    const r = await runBatch(
      ex,
      [
        { argv: ['sh', '-c', 'echo first; printf "%s\\n" 0 >> "$1"', '_', file] },
        { argv: ['sh', '-c', 'printf partial; exec sleep 30'] },
        { argv: ['sh', '-c', 'printf "%s\\n" 2 >> "$1"', '_', file] },
      ],
      { timeoutMs: 1500 },
    );
    expect(r.timedOut).toBe(true);
    expect(r.stoppedAt).toBe(1);
    expect(r.results[0]).toMatchObject({ exitCode: 0, stdout: 'first\n', timedOut: false });
    expect(r.results[1]).toMatchObject({ stdout: 'partial', timedOut: true });
    expect(ranIds(file)).toEqual(['0']);
    // The remote `timeout` ended the whole batch: no shell is left to run step 2 later.
    await new Promise((res) => setTimeout(res, 500));
    expect(ranIds(file)).toEqual(['0']);
  });

  it('a connection killed mid-batch rejects with ExecError, and no step after the kill point runs', async () => {
    const ex = executorFor('plain');
    const home = sb.host('plain').homeDir;
    const ran = path.join(home, 'kill-ran');
    const started = path.join(home, 'kill-started');
    const steps: BatchStep[] = [
      { argv: ['sh', '-c', 'printf "%s\\n" 0 >> "$1"', '_', ran] },
      // Signals that it runs, then waits long enough for the test to kill the session serving it.
      { argv: ['sh', '-c', 'printf "%s\\n" 1 >> "$1"; : > "$2"; sleep 2', '_', ran, started] },
      { argv: ['sh', '-c', 'printf "%s\\n" 2 >> "$1"', '_', ran] },
    ];
    const batch = runBatch(ex, steps);
    const outcome = batch.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await waitFor(() => existsSync(started), 10_000);
    const killed = killSessions(sb.host('plain').sshdPidFile);
    expect(killed).toBeGreaterThan(0);
    const err = await outcome;
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).code).toBe('host-unreachable');
    // Step 1 was running when the connection died; step 2 must never run, also after step 1's sleep.
    await new Promise((res) => setTimeout(res, 3000));
    expect(ranIds(ran)).toEqual(['0', '1']);
    // The executor reconnects for the next run.
    expect((await ex.run(['true'])).exitCode).toBe(0);
  });
});

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** SIGKILLs the session processes (children) of the sshd whose pid file is given: the connections it serves die. */
function killSessions(sshdPidFile: string): number {
  const listener = Number(readFileSync(sshdPidFile, 'utf8').trim());
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== listener) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
