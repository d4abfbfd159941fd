/**
 * The plan runner against a real shell (LocalExecutor: the real batch framing, no fake): the log of a batched plan
 * is line for line what running each step alone logs, for success and for a failure at the first, a middle and the
 * last step, with the completed steps undone in reverse. Every host's batch settles: one whose framing breaks (an
 * unknown outcome) or that hits a bug leaves the others' completed steps logged and undone.
 */
import { describe, expect, it } from 'vitest';
import { BatchFramingError, BatchIncompleteError } from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { LocalExecutor } from '../../src/exec/local.js';
import type { Executor, RunOptions } from '../../src/exec/types.js';
import { execOutcome, hostExecError, recordStateAfter } from '../../src/jobs/outcomes.js';
import { logStep, runPlanInBatches, type PlanHosts } from '../../src/jobs/plan-runner.js';
import { isUnknownOutcome } from '../../src/kinds/unknown.js';
import { ProblemError } from '../../src/model/problems.js';
import type { Plan, Step } from '../../src/ops/plan.js';

interface Line {
  host: string | null;
  stream: string;
  text: string;
  exitCode?: number;
}

function io(log: Line[]): PlanHosts {
  const local = new LocalExecutor();
  return {
    executor: () => local,
    hostName: (id) => id.replace('host_', ''),
    log: (host, stream, text, extra) =>
      log.push({ host, stream, text, ...(extra?.exitCode !== undefined ? { exitCode: extra.exitCode } : {}) }),
    completed: () => {},
  };
}

/** What the runner did before batches: each step alone, in plan order; on failure the done ones undone in reverse. */
async function stepByStep(hosts: PlanHosts, plan: Plan): Promise<void> {
  const done: Step[] = [];
  for (const s of plan.steps) {
    const r = await hosts.executor(s.host).run(s.argv, s.stdin !== undefined ? { stdin: s.stdin } : {});
    logStep(hosts, s.host, s.argv, { ...r, ms: r.ms }, s.stdin);
    if (r.timedOut || !(s.okExitCodes ?? [0]).includes(r.exitCode)) {
      const todo = done.filter((x) => x.undo).reverse();
      if (todo.length) hosts.log(null, 'info', `undoing ${todo.length} completed step(s) in reverse`);
      for (const u of todo) logStep(hosts, u.host, u.undo!, { ...(await hosts.executor(u.host).run(u.undo!)) });
      throw new Error(`${s.description} failed`);
    }
    done.push(s);
  }
}

const say = (host: string, i: number, code = 0): Step => ({
  host,
  description: `step ${i}`,
  argv: ['sh', '-c', `printf 'out %s\\n' "$1"; printf 'err %s' "$1" >&2; exit ${code}`, 'step', String(i)],
  undo: ['sh', '-c', 'printf "undo %s\\n" "$1"', 'undo', String(i)],
});

const plan = (failAt: number | null, n = 5): Plan => ({
  steps: Array.from({ length: n }, (_, i) => say('host_a', i, i === failAt ? 3 : 0)),
});

async function logsOf(run: (hosts: PlanHosts, p: Plan) => Promise<void>, p: Plan): Promise<{ lines: Line[]; failed: boolean }> {
  const lines: Line[] = [];
  let failed = false;
  await run(io(lines), p).catch(() => (failed = true));
  return { lines, failed };
}

describe('plan runner: batches log what steps run alone log', () => {
  it('a plan that succeeds', async () => {
    const batched = await logsOf(runPlanInBatches, plan(null));
    const alone = await logsOf(stepByStep, plan(null));
    expect(batched.failed).toBe(false);
    expect(batched.lines).toEqual(alone.lines);
    expect(batched.lines.filter((l) => l.stream === 'cmd')).toHaveLength(5);
  });

  for (const [where, k] of [
    ['first', 0],
    ['middle', 2],
    ['last', 4],
  ] as const) {
    it(`a failure at the ${where} step: the same lines, the completed steps undone in reverse`, async () => {
      const batched = await logsOf(runPlanInBatches, plan(k));
      const alone = await logsOf(stepByStep, plan(k));
      expect(batched.failed).toBe(true);
      expect(batched.lines).toEqual(alone.lines);
      const undone = batched.lines.filter((l) => l.stream === 'stdout' && l.text.startsWith('undo')).map((l) => l.text);
      expect(undone).toEqual(Array.from({ length: k }, (_, i) => `undo ${k - 1 - i}`));
    });
  }

  it('stdin (ip -batch style) is fed to its step and shown in the log as a heredoc', async () => {
    const p: Plan = { steps: [{ host: 'host_a', description: 'cat', argv: ['cat'], stdin: 'line one\nline two\n' }] };
    const batched = await logsOf(runPlanInBatches, p);
    expect(batched.lines.map((l) => l.text)).toEqual(["cat <<'EOF'\nline one\nline two\nEOF", 'line one\nline two', 'exit 0']);
  });

  it('two hosts run side by side; a failure on one undoes what completed on both', async () => {
    const p: Plan = { steps: [say('host_a', 0), say('host_a', 1), say('host_b', 2), say('host_b', 3, 5)] };
    const batched = await logsOf(runPlanInBatches, p);
    expect(batched.failed).toBe(true);
    const out = batched.lines.filter((l) => l.stream === 'stdout').map((l) => `${l.host ?? '-'} ${l.text}`);
    // Each host's lines in its own order, hosts in plan order; then the undo of what completed, newest first per host.
    expect(out.slice(0, 4)).toEqual(['a out 0', 'a out 1', 'b out 2', 'b out 3']);
    expect(out.slice(4).sort()).toEqual(['a undo 0', 'a undo 1', 'b undo 2']);
    expect(out.filter((t) => t.startsWith('a undo'))).toEqual(['a undo 1', 'a undo 0']);
  });

  it('a step that may stop half-way (a merged batch) is undone too when it fails, after the steps before it', async () => {
    const half: Step = {
      host: 'host_a',
      description: 'half',
      argv: ['sh', '-c', 'echo made-a; exit 1'],
      undo: ['sh', '-c', 'echo undo half'],
      undoWhenFailed: true,
    };
    const batched = await logsOf(runPlanInBatches, { steps: [say('host_a', 0), half] });
    expect(batched.failed).toBe(true);
    const out = batched.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(out).toEqual(['out 0', 'made-a', 'undo half', 'undo 0']);
  });
});

/** Like io() above, with host_b's executor replaced. */
function ioWith(log: Line[], hostB: Executor): PlanHosts {
  const base = io(log);
  return { ...base, executor: (id) => (id === 'host_b' ? hostB : base.executor(id)) };
}

/** Runs batches for real, but something on the host writes into the batch's stderr: the framing breaks. */
const strayStderr: Executor = {
  kind: 'local',
  run: async (argv: readonly string[], opts?: RunOptions) => {
    const r = await new LocalExecutor().run(argv, opts);
    return { ...r, stderr: `${r.stderr}stray text from the host\n` };
  },
  close: async () => {},
};

async function failure(hosts: PlanHosts, p: Plan): Promise<unknown> {
  return runPlanInBatches(hosts, p).then(
    () => expect.fail('the plan should fail'),
    (e: unknown) => e,
  );
}

const twoHosts = (bFails = 0): Plan => ({ steps: [say('host_a', 0), say('host_a', 1), say('host_b', 2), say('host_b', 3, bFails)] });
const stdoutOf = (lines: Line[]) => lines.filter((l) => l.stream === 'stdout').map((l) => `${l.host ?? '-'} ${l.text}`);

describe('plan runner: every host settles; a broken framing is an unknown outcome', () => {
  it("the second host's batch breaks its framing: the first host's steps are logged and undone in reverse; the error is unknown-outcome", async () => {
    const lines: Line[] = [];
    const e = await failure(ioWith(lines, strayStderr), twoHosts());
    expect(e).toBeInstanceOf(ExecError);
    expect((e as ExecError).code).toBe('host-unreachable');
    expect((e as ExecError).cause).toBeInstanceOf(BatchFramingError);
    expect((e as Error).message).toMatch(/^b: batch output does not follow its framing: .*\(the outcome of 2 step\(s\) is unknown\)$/);
    expect(execOutcome(e)).toBe('unknown');
    expect(isUnknownOutcome(e)).toBe(true);
    // host_a: its steps logged, then undone newest first; host_b's output cannot be trusted: neither logged nor undone.
    expect(stdoutOf(lines)).toEqual(['a out 0', 'a out 1', 'a undo 1', 'a undo 0']);
    expect(lines.filter((l) => l.stream === 'cmd').map((l) => l.text)).toHaveLength(4);
    expect(lines.some((l) => l.text === 'undoing 2 completed step(s) in reverse')).toBe(true);
  });

  it('an executor that throws BatchFramingError itself is classified the same way', async () => {
    const lines: Line[] = [];
    const throwing: Executor = {
      kind: 'local',
      run: () => Promise.reject(new Error('not used')),
      runBatch: () => Promise.reject(new BatchFramingError('batch output does not follow its framing: test')),
      close: async () => {},
    };
    const e = await failure(ioWith(lines, throwing), twoHosts());
    expect(isUnknownOutcome(e)).toBe(true);
    expect(stdoutOf(lines)).toEqual(['a out 0', 'a out 1', 'a undo 1', 'a undo 0']);
  });

  it('a bug on one host (not an executor error) still settles and undoes the others, and fails the job as it is', async () => {
    const lines: Line[] = [];
    const buggy: Executor = {
      kind: 'local',
      run: () => Promise.reject(new Error('not used')),
      runBatch: () => Promise.reject(new TypeError('a bug')),
      close: async () => {},
    };
    const e = await failure(ioWith(lines, buggy), twoHosts());
    expect(e).toBeInstanceOf(TypeError);
    expect(execOutcome(e)).toBe('failed');
    expect(stdoutOf(lines)).toEqual(['a out 0', 'a out 1', 'a undo 1', 'a undo 0']);
  });

  it("a known failure on one host and an unknown outcome on another: the job's error is the unknown one, the other is logged", async () => {
    const lines: Line[] = [];
    const p: Plan = { steps: [say('host_a', 0), say('host_a', 1, 4), say('host_b', 2)] };
    const e = await failure(ioWith(lines, strayStderr), p);
    expect(isUnknownOutcome(e)).toBe(true);
    expect(lines).toContainEqual({ host: null, stream: 'error', text: 'step 1 failed on a (exit 4): err 1' });
    expect(stdoutOf(lines)).toEqual(['a out 0', 'a out 1', 'a undo 0']);
  });
});

describe('execOutcome: how an executor error maps to a job outcome and record state', () => {
  it('unknown: lost connections, timeouts, broken or cut-short batches, a lost lease; failed: everything else', () => {
    const incomplete = new BatchIncompleteError('cut', [], null, { exitCode: 1, stdout: '', stderr: '', ms: 1, timedOut: false });
    for (const e of [
      new ExecError('host-unreachable', 'lost'),
      new ExecError('timeout', 't'),
      new BatchFramingError('f'),
      incomplete,
      new ProblemError('command-timeout', 't'),
      new ProblemError('job-interrupted', 'i'),
    ])
      expect([execOutcome(e), recordStateAfter(e, 'ready')]).toEqual(['unknown', 'unknown']);
    for (const e of [
      new ExecError('auth-failed', 'a'),
      new ExecError('host-key-mismatch', 'k'),
      new ProblemError('command-failed', 'c'),
      new TypeError('bug'),
      'a string',
    ])
      expect([execOutcome(e), recordStateAfter(e, 'ready')]).toEqual(['failed', 'ready']);
  });

  it('hostExecError names the host; a broken framing becomes host-unreachable, an ExecError keeps its code, a bug stays as it is', () => {
    const f = hostExecError('docker3', new BatchFramingError('broken'), { unknownNote: 'n' }) as ExecError;
    expect([f.code, f.message, execOutcome(f)]).toEqual(['host-unreachable', 'docker3: broken (n)', 'unknown']);
    const a = hostExecError('docker3', new ExecError('auth-failed', 'refused', { x: 1 }), { unknownNote: 'n' }) as ExecError;
    expect([a.code, a.message, a.details]).toEqual(['auth-failed', 'docker3: refused', { x: 1 }]);
    const bug = new TypeError('bug');
    expect(hostExecError('docker3', bug)).toBe(bug);
  });
});
