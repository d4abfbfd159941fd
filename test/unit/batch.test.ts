import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { echoStep, ranIds } from '../helpers/batch-steps.js';
import {
  BatchFramingError,
  BatchIncompleteError,
  buildBatchScript,
  parseBatchOutput,
  runBatch,
  type BatchStep,
} from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { LocalExecutor } from '../../src/exec/local.js';
import type { Executor, RunOptions, RunResult } from '../../src/exec/types.js';

const exec = new LocalExecutor();
const dir = mkdtempSync(join(tmpdir(), 'netplumb-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const step = echoStep;

const hex = fc.stringMatching(/^[0-9a-f]{8,32}$/);
/** Text made to look like framing: markers with made-up nonces, heredoc-like delimiters, quotes, lone newlines. */
const markerish = fc.oneof(
  fc.constantFrom(
    '\n',
    '\n\n',
    '@np:',
    '\n@np:',
    ' B 0\n',
    ' E 0 0 1.5\n',
    ' Z\n',
    'np_',
    '\nné',
    '\nnp_🦀',
    "'",
    '"',
    '$(id)',
    '`id`',
    '\\',
    '%s',
    '%n',
    '}',
    '{',
  ),
  hex.map((h) => `\n@np:${h} E 0 0 1.0\n`),
  hex.map((h) => `\n@np:${h} Z\n`),
);
const text = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), markerish), { maxLength: 5 })
  .map((parts) => parts.join('').replaceAll('\0', ''));

describe('runBatch (LocalExecutor)', () => {
  it('returns what running each step alone returns, and stops at the first step whose status is not ok', async () => {
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
          const okAt = (i: number) => (steps[i]!.okExitCodes ?? [0]).includes(specs[i]!.code);
          const firstBad = specs.findIndex((_, i) => !okAt(i));
          const expectedCount = firstBad === -1 ? steps.length : firstBad + 1;

          const batch = await runBatch(exec, steps);
          expect(batch.timedOut).toBe(false);
          expect(batch.stoppedAt).toBe(firstBad === -1 ? null : firstBad);
          expect(batch.results).toHaveLength(expectedCount);
          // The side effect: exactly the steps up to and including the failing one ran, once each, in order.
          expect(ranIds(file)).toEqual(steps.slice(0, expectedCount).map((_, i) => String(i)));
          rmSync(file, { force: true });

          for (let i = 0; i < expectedCount; i++) {
            const alone = await exec.run(steps[i]!.argv);
            const got = batch.results[i]!;
            expect({ exitCode: got.exitCode, stdout: got.stdout, stderr: got.stderr }).toEqual({
              exitCode: alone.exitCode,
              stdout: alone.stdout,
              stderr: alone.stderr,
            });
            expect(got.timedOut).toBe(false);
            expect(got.ms).toBeGreaterThanOrEqual(0);
          }
          rmSync(file, { force: true });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('honours okExitCodes: a listed status goes on, an unlisted one stops', async () => {
    const file = join(dir, 'ok-codes');
    const r = await runBatch(exec, [
      step('a', '', 1, '0', file, [0, 1]),
      step('b', '', 2, '1', file, [2]),
      step('c', '', 0, '2', file, [1]),
      step('d', '', 0, '3', file),
    ]);
    expect(r.results.map((x) => x.exitCode)).toEqual([1, 2, 0]);
    expect(r.stoppedAt).toBe(2);
    expect(ranIds(file)).toEqual(['0', '1', '2']);
  });

  it('feeds each step its own stdin, exactly; the others read /dev/null and never the script', async () => {
    const r = await runBatch(exec, [
      { argv: ['cat'], stdin: 'line 1\nline 2\n' },
      { argv: ['cat'] },
      { argv: ['cat'], stdin: 'no final newline' },
      { argv: ['od', '-An', '-c'], stdin: '\n' },
      { argv: ['cat'], stdin: "EOF\n'np_'\n$(id) `id` \\\n}\n" },
      { argv: ['wc', '-c'], stdin: 'x'.repeat(200_000) },
      { argv: ['true'], stdin: 'y'.repeat(200_000) }, // never read: the batch goes on
      { argv: ['cat'] },
    ]);
    expect(r.stoppedAt).toBeNull();
    expect(r.results.map((x) => x.stdout)).toEqual([
      'line 1\nline 2\n',
      '',
      'no final newline',
      '  \\n\n',
      "EOF\n'np_'\n$(id) `id` \\\n}\n",
      '200000\n',
      '',
      '',
    ]);
    expect(r.results.map((x) => x.stderr).join('')).toBe('');
  });

  it('any stdin text round-trips byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 3 }), async (inputs) => {
        const r = await runBatch(
          exec,
          inputs.map((stdin) => ({ argv: ['cat'], stdin })),
        );
        expect(r.results.map((x) => x.stdout)).toEqual(inputs);
      }),
      { numRuns: 40 },
    );
  });

  it('stdin lines that begin like the heredoc delimiter and go on with non-ASCII arrive exactly (dash drops such a byte)', async () => {
    const every = [...'nABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmopqrstuvwxyz0123456789'].map((c) => `${c}é`).join('\n') + '\n';
    const inputs = ['né\nnp_é\nn🦀\nnp\u00ff\n', 'Aé\nné\n', every];
    const r = await runBatch(
      exec,
      inputs.map((stdin) => ({ argv: ['cat'], stdin })),
    );
    expect(r.results.map((x) => x.stdout)).toEqual(inputs);
  });

  it('a missing command is exit 127 with the shell message, as alone, and the batch stops there', async () => {
    const file = join(dir, 'missing');
    const alone = await exec.run(['netplumb-no-such-command', '--x']);
    const r = await runBatch(exec, [step('', '', 0, '0', file), { argv: ['netplumb-no-such-command', '--x'] }, step('', '', 0, '2', file)]);
    expect(r.stoppedAt).toBe(1);
    expect(r.results[1]!.exitCode).toBe(127);
    expect(r.results[1]!.exitCode).toBe(alone.exitCode);
    expect(r.results[1]!.stderr).toMatch(/netplumb-no-such-command: not found\n$/);
    expect(ranIds(file)).toEqual(['0']);
  });

  it('argv[0] is always a program on PATH, never a shell builtin: the batch shell cannot be changed or ended by a step', async () => {
    const file = join(dir, 'builtins');
    const names = ['exit', 'cd', 'set', 'exec', 'eval', 'trap', '.', 'FOO=bar', '{', '}'];
    const steps: BatchStep[] = [
      { argv: ['echo', 'a\\nb', '-e'] }, // /bin/echo: no escapes
      ...names.map((n) => ({ argv: [n, '3'], okExitCodes: [126, 127] })), // not found, or '.' a directory
      step('', '', 0, 'after', file),
    ];
    const r = await runBatch(exec, steps);
    expect(r.stoppedAt).toBeNull();
    expect(r.results[0]!.stdout).toBe((await exec.run(['echo', 'a\\nb', '-e'])).stdout);
    for (let i = 1; i <= names.length; i++) {
      expect(r.results[i]!.exitCode).toBe((await exec.run(steps[i]!.argv)).exitCode); // 127 (126 for '.'), as alone
    }
    expect(ranIds(file)).toEqual(['after']);
  });

  it('hostile argv words arrive exactly as given', async () => {
    const words = [
      "it's",
      '"dq"',
      '$(touch /tmp/netplumb-pwned)',
      '`id`',
      '${HOME}',
      'a\nb',
      '\n',
      '-n',
      '--',
      '-e',
      '*',
      '; exit 0',
      '}',
      'np_x',
      '@np:00',
      '',
      ' ',
      '\t',
      'é🦀',
    ];
    const reversed = [...words].reverse();
    const r = await runBatch(exec, [{ argv: ['printf', '%s\\0', ...words] }, { argv: ['printf', '%s\\0', ...reversed] }]);
    expect(r.results[0]!.stdout.split('\0').slice(0, -1)).toEqual(words);
    expect(r.results[1]!.stdout.split('\0').slice(0, -1)).toEqual(reversed);
    expect(existsSync('/tmp/netplumb-pwned')).toBe(false);
  });

  it('a timeout mid-batch: completed steps keep their results, the running one is timedOut with what it printed, nothing after runs', async () => {
    const file = join(dir, 'timeout');
    const r = await runBatch(
      exec,
      [
        step('first\n', 'e1', 0, '0', file),
        { argv: ['sh', '-c', 'printf partial; printf perr >&2; exec sleep 10'] },
        step('', '', 0, '2', file),
      ],
      { timeoutMs: 700 },
    );
    expect(r.timedOut).toBe(true);
    expect(r.stoppedAt).toBe(1);
    expect(r.results).toHaveLength(2);
    expect(r.results[0]).toMatchObject({ exitCode: 0, stdout: 'first\n', stderr: 'e1', timedOut: false });
    expect(r.results[1]).toMatchObject({ exitCode: 124, stdout: 'partial', stderr: 'perr', timedOut: true });
    expect(ranIds(file)).toEqual(['0']);
  });

  it('steps see exactly the environment a run alone sees (the batch shell exports nothing of its own)', async () => {
    const withUnderscore = new LocalExecutor({ env: { _: '/usr/bin/timeout' } }); // as bash passes it over SSH
    const r = await runBatch(withUnderscore, [{ argv: ['env'] }, { argv: ['env'] }, { argv: ['env'] }]);
    const alone = (await withUnderscore.run(['env'])).stdout.split('\n').sort();
    for (const x of r.results) expect(x.stdout.split('\n').sort()).toEqual(alone);
  });

  it('times each step on the host: the kernel clock as root, date where /proc/timer_list is unreadable', async () => {
    const steps: BatchStep[] = [{ argv: ['sleep', '0.05'] }, { argv: ['true'] }];
    const asRoot = await runBatch(exec, steps);
    expect(asRoot.results[0]!.ms).toBeGreaterThanOrEqual(49);
    expect(asRoot.results[0]!.ms).toBeLessThan(asRoot.ms);
    if (process.getuid?.() !== 0) return; // setpriv needs root; as non-root the date path already ran above
    const nobody: Executor = {
      kind: 'local',
      run: (argv: readonly string[], opts?: RunOptions) =>
        exec.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv], opts),
      close: async () => {},
    };
    const r = await runBatch(nobody, steps);
    expect(r.results.map((x) => [x.exitCode, x.stderr])).toEqual([
      [0, ''],
      [0, ''],
    ]);
    expect(r.results[0]!.ms).toBeGreaterThanOrEqual(49);
    // Which clock: the markers carry k<ns> (kernel, root) or <s>.<ns> (date).
    const script = buildBatchScript([{ argv: ['true'] }], 'abcdabcdabcdabcd');
    expect((await exec.run(['sh', '-s'], { stdin: script })).stdout).toMatch(/@np:abcdabcdabcdabcd B 0 k\d+\n/);
    expect((await nobody.run(['sh', '-s'], { stdin: script })).stdout).toMatch(/@np:abcdabcdabcdabcd B 0 \d+\.\d{9}\n/);
  });

  it('an empty batch runs nothing', async () => {
    const never: Executor = { kind: 'local', run: () => Promise.reject(new Error('must not run')), close: async () => {} };
    expect(await runBatch(never, [])).toMatchObject({ results: [], stoppedAt: null, timedOut: false });
  });

  it('an executor that rejects (lost connection) rejects the batch with its error', async () => {
    const lost: Executor = {
      kind: 'ssh',
      run: () => Promise.reject(new ExecError('host-unreachable', 'lost the connection')),
      close: async () => {},
    };
    await expect(runBatch(lost, [{ argv: ['true'] }])).rejects.toBeInstanceOf(ExecError);
  });

  it('a batch shell killed mid-batch is BatchIncompleteError: completed steps known, the running one unknown', async () => {
    const file = join(dir, 'killed');
    const err = await runBatch(exec, [
      step('x', '', 0, '0', file),
      { argv: ['sh', '-c', 'kill -9 $PPID; sleep 1'] },
      step('', '', 0, '2', file),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(BatchIncompleteError);
    expect((err as BatchIncompleteError).results.map((x) => x.stdout)).toEqual(['x']);
    expect((err as BatchIncompleteError).runningStep).toBe(1);
    expect(ranIds(file)).toEqual(['0']);
  });

  it('when its output is gone (lost connection) the batch stops, even with SIGPIPE ignored', async () => {
    const file = join(dir, 'broken-pipe');
    // stdout goes to `head -c 1`, gone once step 0 sleeps; SIGPIPE is ignored, so writes fail with EPIPE instead of killing sh.
    const broken: Executor = {
      kind: 'local',
      run: (argv: readonly string[], opts?: RunOptions) => exec.run(['sh', '-c', 'trap "" PIPE; "$@" | head -c 1', '_', ...argv], opts),
      close: async () => {},
    };
    const steps = [
      { argv: ['sh', '-c', 'printf "%s\\n" 0 >> "$1"; sleep 0.3', '_', file] },
      ...[1, 2, 3].map((i) => step('', '', 0, String(i), file)),
    ];
    const err = await runBatch(broken, steps).catch((e) => e);
    // Output that lost its markers cannot be trusted: outcome unknown, whichever error says so.
    expect([BatchIncompleteError.name, BatchFramingError.name]).toContain((err as Error).name);
    expect(ranIds(file)).toEqual(['0']);
  });

  it('a script cut short in transit runs none of its steps', async () => {
    const file = join(dir, 'cut');
    const cutting: Executor = {
      kind: 'local',
      run: (argv: readonly string[], opts?: RunOptions) => exec.run(argv, { ...opts, stdin: String(opts?.stdin).slice(0, -40) }),
      close: async () => {},
    };
    const err = await runBatch(cutting, [step('', '', 0, '0', file), step('', '', 0, '1', file)]).catch((e) => e);
    expect(err).toBeInstanceOf(BatchIncompleteError);
    expect((err as BatchIncompleteError).results).toEqual([]);
    expect(ranIds(file)).toEqual([]);
  });

  it('what the login shell prints before the script is the preamble, not step output', async () => {
    const noisy: Executor = {
      kind: 'ssh',
      run: async (argv: readonly string[], opts?: RunOptions): Promise<RunResult> => {
        const r = await exec.run(argv, opts);
        return { ...r, stdout: `Welcome${r.stdout}`, stderr: `conda: hello\n${r.stderr}` };
      },
      close: async () => {},
    };
    const r = await runBatch(noisy, [{ argv: ['echo', 'hi'] }]);
    expect(r.preamble).toEqual({ stdout: 'Welcome', stderr: 'conda: hello\n' });
    expect(r.results[0]).toMatchObject({ stdout: 'hi\n', stderr: '' });
  });
});

describe('buildBatchScript', () => {
  const nonce = '0123456789abcdef';
  it('refuses what it cannot express exactly', () => {
    expect(() => buildBatchScript([{ argv: [] }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: [''] }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: ['echo', 'a\0b'] }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: ['cat'], stdin: 'a\0b\n' }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: ['cat'], stdin: `x\nnp_${nonce}\ny\n` }], nonce)).toThrow(/delimiter/);
    expect(() => buildBatchScript([{ argv: ['true'], okExitCodes: [256] }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: ['true'], okExitCodes: [] }], nonce)).toThrow(TypeError);
    expect(() => buildBatchScript([{ argv: ['true'] }], "x'; reboot")).toThrow(TypeError);
  });

  it('is POSIX sh: dash -n parses it', async () => {
    const script = buildBatchScript(
      [
        { argv: ['cat'], stdin: 'a\n' },
        { argv: ['cat'], stdin: 'b' },
        { argv: ['true'], okExitCodes: [0, 1] },
      ],
      nonce,
    );
    writeFileSync(join(dir, 'script.sh'), script);
    expect(await exec.run(['dash', '-n', join(dir, 'script.sh')])).toMatchObject({ exitCode: 0, stderr: '' });
  });
});

describe('parseBatchOutput', () => {
  const nonce = 'feedfacefeedface';
  const m = (f: string) => `\n@np:${nonce} ${f}\n`;
  const steps: BatchStep[] = [{ argv: ['a'] }, { argv: ['b'] }];

  it('reads a complete batch, times from the remote clock (kernel ns, or date, or none)', () => {
    const out = `${m('B 0 k99999999997500000')}one${m('E 0 0 k100000000000000000')}${m('B 1 100.000000000')}${m('E 1 0 100.0005')}${m('Z')}`;
    const err = `${m('S')}${m('E 0')}e\n${m('E 1')}`;
    const p = parseBatchOutput(out, err, nonce, steps);
    expect(p.complete).toBe(true);
    expect(p.results).toEqual([
      { exitCode: 0, stdout: 'one', stderr: '', ms: 2.5, timedOut: false },
      { exitCode: 0, stdout: '', stderr: 'e\n', ms: 0.5, timedOut: false },
    ]);
    const coarse = `${m('B 0 100.%N')}${m('E 0 0 101.%N')}${m('B 1 -')}${m('E 1 0 k5')}${m('Z')}`;
    expect(parseBatchOutput(coarse, err, nonce, steps).results.map((r) => r.ms)).toEqual([1000, 0]);
  });

  it('refuses anything out of place', () => {
    const good = (extra = '') => `${m('B 0 k1')}${m('E 0 0 k1')}${extra}${m('B 1 k1')}${m('E 1 0 k1')}${m('Z')}`;
    const err = `${m('S')}${m('E 0')}${m('E 1')}`;
    expect(() => parseBatchOutput(good(), err, nonce, steps)).not.toThrow();
    expect(() => parseBatchOutput(good(), `${err}stray`, nonce, steps)).toThrow(BatchFramingError);
    expect(() => parseBatchOutput(good(), `${m('S')}${m('E 1')}${m('E 0')}`, nonce, steps)).toThrow(BatchFramingError);
    expect(() => parseBatchOutput(good(), '', nonce, steps)).toThrow(/no S marker/);
    expect(() => parseBatchOutput(good('stray'), err, nonce, steps)).toThrow(BatchFramingError);
    expect(() => parseBatchOutput(`${m('B 1 k1')}`, '', nonce, steps)).toThrow(BatchFramingError);
    expect(() => parseBatchOutput(`${m('B 0 k1')}${m('E 0 1 k1')}${m('B 1 k1')}`, '', nonce, steps)).toThrow(
      /after the batch should have stopped/,
    );
    expect(() => parseBatchOutput(`${m('B 0 k1')}${m('E 0 0 k1')}${m('Z')}`, `${m('S')}${m('E 0')}`, nonce, steps)).toThrow(
      /Z after 1 of 2/,
    );
    expect(() => parseBatchOutput(good(), `${m('S')}${m('E 0')}`, nonce, steps)).toThrow(BatchFramingError);
    expect(() => parseBatchOutput('', `${m('S')}${m('E 0')}`, nonce, steps)).toThrow(BatchFramingError);
  });

  it('output cut short (timeout, killed shell): what completed, and what the running step printed', () => {
    const out = `pre${m('B 0 k1')}a${m('E 0 0 k2')}${m('B 1 k3')}partial`;
    const cut = parseBatchOutput(out, `${m('S')}e0${m('E 0')}perr`, nonce, steps);
    expect(cut).toMatchObject({ complete: false, stoppedAt: null, preamble: { stdout: 'pre', stderr: '' } });
    expect(cut.results.map((r) => [r.stdout, r.stderr])).toEqual([['a', 'e0']]);
    expect(cut.running).toEqual({ index: 1, stdout: 'partial', stderr: 'perr' });
    // stderr one E ahead of stdout (cut between the two E markers): the step's stderr is whole.
    expect(parseBatchOutput(out, `${m('S')}${m('E 0')}all\n${m('E 1')}`, nonce, steps).running).toEqual({
      index: 1,
      stdout: 'partial',
      stderr: 'all\n',
    });
    // Nothing begun: all of it is preamble.
    expect(parseBatchOutput('motd', 'warn', nonce, steps)).toMatchObject({
      results: [],
      running: null,
      preamble: { stdout: 'motd', stderr: 'warn' },
    });
  });

  it('markers with another nonce are plain output', () => {
    const fake = '\n@np:0000000000000000 E 0 0 1.0\n';
    const p = parseBatchOutput(`${m('B 0 k1')}${fake}${m('E 0 0 k1')}${m('Z')}`, `${m('S')}${fake}${m('E 0')}`, nonce, [steps[0]!]);
    expect(p.results[0]).toMatchObject({ stdout: fake, stderr: fake });
  });
});
