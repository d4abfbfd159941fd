/**
 * Batches: consecutive plan steps for one host sent as ONE POSIX sh script through one
 * Executor.run (one SSH channel and one login-shell start-up; one process locally), framed
 * so that each step's stdout, stderr, exit status and time come back as if run alone.
 *
 * The script goes to `sh -s` on stdin rather than `sh -c <script>`: no 128 KiB limit on one
 * argument (MAX_ARG_STRLEN; over SSH the whole command line is one argument of the login
 * shell), and the nonce never shows in `ps`. It is one brace group, so a script cut short in
 * transit is a syntax error and none of it runs. (A login rc file that reads stdin would eat
 * it; such a host also breaks scp, rsync and git over SSH, and every run with stdin today.)
 *
 * Each step runs as `(exec argv…) </dev/null`: `exec` looks argv[0] up as a program on PATH,
 * exactly as execFile or the remote `timeout argv…` of a separate run would, never as a shell
 * builtin (`echo` with escapes, `cd`, `exit`, `set` would otherwise change or end the batch
 * shell), and the subshell keeps whatever happens inside it away from later steps. A missing
 * program is exit 127 with the shell's message (dash: `sh: 5: exec: name: not found`). dash's
 * exec takes no options, so even an argv[0] like `-x` is a name (bash's exec would parse it).
 *
 * Framing: every marker is the line `@np:<nonce> <fields>`, always printed after a newline of
 * its own that the parser strips, so output without a final newline round-trips exactly.
 *   stdout: <preamble> then per step: B <i> <time> <stdout> E <i> <status> <time>; then Z
 *   stderr: <preamble> S, then per step: <stderr> E <i>
 * (one stderr marker per step: each write to stderr costs sshd a packet, ~0.2 ms here; a
 * step's stderr simply runs from the previous marker to its E.)
 * The preamble is what the login shell printed before the script began (a noisy rc file).
 *
 * Time: dash has no clock builtin, and `date +%s.%N` is a fork+exec (~0.8 ms here, as much as
 * a trivial step itself: it halved a batch's speed). So the shell reads the kernel's monotonic
 * clock with the `read` builtin from /proc/timer_list (line 3: `now at <ns> nsecs`, ~20 µs, ns
 * resolution; root only), taken after each step and once before the first. Where that file
 * cannot be read it falls back to date (busybox date has no %N: whole seconds), else no time
 * (ms 0). /proc/uptime is readable by a builtin too, but counts in 10 ms: coarser than most steps.
 */
import { randomBytes } from 'node:crypto';
import { quoteArg, quoteArgv } from './quote.js';
import { DEFAULT_TIMEOUT_MS, type Executor, type RunResult } from './types.js';

export interface BatchStep {
  argv: readonly string[];
  /** Exit statuses that let the batch go on (default [0]); any other stops it after this step. */
  okExitCodes?: readonly number[];
  /** Bytes fed to this step's stdin (exactly, final newline or not); other steps read /dev/null. */
  stdin?: string;
}

export interface BatchStepResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The step's own time on the host (remote clock), without the round trip. */
  ms: number;
  /** The batch ran out of time while this step ran (it is then the last result). */
  timedOut: boolean;
}

export interface BatchResult {
  /** One per step that ran, in order. */
  results: BatchStepResult[];
  /** Index of the step that ended the batch early: its status is not ok, or it timed out. */
  stoppedAt: number | null;
  /** The whole run, round trip included. */
  ms: number;
  /** The batch ran out of time. Usually the last result timed out; if time ran out between steps, none did and stoppedAt is null. */
  timedOut: boolean;
  /** What the login shell printed before the script began; not part of any step. */
  preamble: { stdout: string; stderr: string };
}

export interface BatchOptions {
  /** For the whole batch (default 30 s): it ends everything still running on the host. */
  timeoutMs?: number;
}

/** The output does not follow the framing (a bug, or something on the host wrote into the batch's streams). */
export class BatchFramingError extends Error {
  override readonly name = 'BatchFramingError';
}

/**
 * The batch shell ended before the script did without timing out (killed, or output beyond the
 * executor's cap hid the markers). Steps in `results` completed; the outcome of `runningStep`
 * (if any) is unknown, and no later step ran.
 */
export class BatchIncompleteError extends Error {
  override readonly name = 'BatchIncompleteError';
  constructor(
    message: string,
    readonly results: BatchStepResult[],
    readonly runningStep: number | null,
    readonly run: RunResult,
  ) {
    super(message);
  }
}

/** A fresh nonce: 128 random bits in hex. */
export function newBatchNonce(): string {
  return randomBytes(16).toString('hex');
}

const NONCE_RE = /^[0-9a-f]{8,64}$/;
const DEFAULT_OK: readonly number[] = [0];

/** Runs a batch with the executor's own batch runner when it has one, else as one `sh -s` (runBatch). */
export function runBatchOn(executor: Executor, steps: readonly BatchStep[], opts: BatchOptions = {}): Promise<BatchResult> {
  return executor.runBatch ? executor.runBatch(steps, opts) : runBatch(executor, steps, opts);
}

/**
 * Runs the steps as one batch and stops after the first step whose status is not ok. Each step
 * runs at most once: nothing is retried. If the executor rejects (ExecError: the host could not
 * be reached, or the connection was lost mid-batch) the error propagates as it is, and no
 * output is known: which steps ran is unknown. Throws BatchIncompleteError or
 * BatchFramingError (above) when the output cannot be trusted; the outcome is unknown too.
 */
export async function runBatch(executor: Executor, steps: readonly BatchStep[], opts: BatchOptions = {}): Promise<BatchResult> {
  if (steps.length === 0) return emptyBatch();
  const { nonce, script } = prepareBatch(steps);
  const run = await executor.run(['sh', '-s'], { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, stdin: script });
  return finishBatch(run, nonce, steps);
}

/** The result of a batch with no steps: nothing ran. */
export function emptyBatch(): BatchResult {
  return { results: [], stoppedAt: null, ms: 0, timedOut: false, preamble: { stdout: '', stderr: '' } };
}

/** A nonce that no step contains, and the script for the steps with it. Throws TypeError as buildBatchScript does. */
export function prepareBatch(steps: readonly BatchStep[]): { nonce: string; script: string } {
  let nonce = newBatchNonce();
  // A step that already contains the nonce could fake a marker or end a heredoc early: pick another.
  while (steps.some((s) => s.stdin?.includes(nonce) || s.argv.some((a) => a.includes(nonce)))) nonce = newBatchNonce();
  return { nonce, script: buildBatchScript(steps, nonce) };
}

/**
 * The batch's result from the run of its script: `run` is what the shell that ran it printed and how it ended (its
 * exit status, and whether the deadline ended it). Shared by runBatch and executors that run scripts their own way
 * (SshExecutor's sessions), so both keep one contract. Throws BatchIncompleteError or BatchFramingError.
 */
export function finishBatch(run: RunResult, nonce: string, steps: readonly BatchStep[]): BatchResult {
  const parsed = parseBatchOutput(run.stdout, run.stderr, nonce, steps);
  const { results, preamble } = parsed;
  let { stoppedAt } = parsed;
  // Finished: Z seen, or the last result says the script had nothing left to run but print Z.
  if (parsed.complete || stoppedAt !== null || results.length === steps.length) {
    return { results, stoppedAt, ms: run.ms, timedOut: false, preamble };
  }
  if (run.timedOut) {
    if (parsed.running) {
      const done = results.reduce((sum, r) => sum + r.ms, 0);
      const { index, stdout, stderr } = parsed.running;
      // Its start on the host is not known on our clock: an upper bound (includes the round trip).
      results.push({ exitCode: run.exitCode, stdout, stderr, ms: Math.max(0, run.ms - done), timedOut: true });
      stoppedAt = index;
    }
    return { results, stoppedAt, ms: run.ms, timedOut: true, preamble };
  }
  const running = parsed.running?.index ?? null;
  throw new BatchIncompleteError(
    `the batch shell ended (exit ${run.exitCode}) after ${results.length} of ${steps.length} steps` +
      (running === null ? '' : `, while step ${running} ran: its outcome is unknown`),
    results,
    running,
    run,
  );
}

/** The POSIX sh script for the steps (see the top of this file). Throws TypeError on a step it cannot express exactly. */
export function buildBatchScript(steps: readonly BatchStep[], nonce: string): string {
  if (!NONCE_RE.test(nonce)) throw new TypeError('buildBatchScript: the nonce must be 8–64 lowercase hex digits');
  const M = `@np:${nonce}`;
  const S = `s_${nonce}`; // the status variable: a name no environment exports, so no step sees it
  const C = `c_${nonce}`; // the clock reading
  const V = `v_${nonce}`; // read's throwaway fields (not `_`: bash exports `_`, and steps would see it change)
  const out: string[] = [
    '{',
    `printf '\\n${M} S\\n' >&2`,
    `n_${nonce}() {`,
    `  ${C}=`,
    `  { read -r ${V} && read -r ${V} && read -r ${V} ${V} ${C} ${V}; } 2>/dev/null </proc/timer_list`,
    `  case $${C} in ''|*[!0-9]*) ${C}=$(date +%s.%N 2>/dev/null) || ${C}=- ;; *) ${C}=k$${C} ;; esac`,
    '}',
    `n_${nonce}`,
  ];
  steps.forEach((step, i) => {
    const argv = step.argv;
    if (argv.length === 0 || argv[0] === '') throw new TypeError(`buildBatchScript: step ${i}: argv must name a command`);
    const ok = step.okExitCodes ?? DEFAULT_OK;
    if (ok.length === 0 || !ok.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
      throw new TypeError(`buildBatchScript: step ${i}: okExitCodes must be integers 0–255`);
    }
    const run = `(exec ${quoteArgv(argv)})`;
    // `|| exit`: if the streams are gone (lost connection) and SIGPIPE is ignored, stop: no step runs unobserved.
    // (2>/dev/null: dash's own "I/O error" message would otherwise land in the last step's stderr.)
    out.push(`printf '\\n${M} B ${i} %s\\n' "$${C}" 2>/dev/null || exit 141`);
    const stdin = step.stdin ?? '';
    if (stdin.includes('\0')) throw new TypeError(`buildBatchScript: step ${i}: stdin contains a NUL character`);
    if (stdin.includes(nonce))
      throw new TypeError(`buildBatchScript: step ${i}: stdin contains the nonce (a fake marker, or the heredoc delimiter)`);
    // A heredoc always ends in a newline: text without one goes through printf (a builtin: no size limit), as does text
    // whose lines begin with every character a delimiter could begin with (see heredocDelimiter).
    const delim = stdin.endsWith('\n') ? heredocDelimiter(stdin, `p_${nonce}`) : undefined;
    if (stdin === '') {
      out.push(`${run} </dev/null`);
    } else if (delim) {
      // A quoted delimiter: the body is taken verbatim, no expansion of any kind.
      out.push(`${run} <<'${delim}'\n${stdin}${delim}`);
    } else {
      out.push(`printf '%s' ${quoteArg(stdin)} 2>/dev/null | ${run}`);
    }
    out.push(`${S}=$?`, `n_${nonce}`);
    out.push(`printf '\\n${M} E ${i}\\n' >&2 || exit 141`);
    out.push(`printf '\\n${M} E ${i} %d %s\\n' "$${S}" "$${C}" 2>/dev/null || exit 141`);
    out.push(`case $${S} in ${ok.join('|')}) ;; *) printf '\\n${M} Z\\n'; exit 0 ;; esac`);
  });
  out.push(`printf '\\n${M} Z\\n'`, '}', '');
  return out.join('\n');
}

/** First characters a heredoc delimiter may take, in order of preference (`np_…` is the usual one). */
const DELIMITER_FIRST = 'nABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmopqrstuvwxyz0123456789';

/**
 * A quoted-heredoc delimiter `<c><tag>` for `body` whose first character c begins none of the body's lines; undefined
 * when every candidate does. dash 0.5.12 drops the byte after a line's first characters when they match the
 * delimiter's and that byte is ≥ 0x80 (`né` under `np_…` arrives as `n\xa9`); a line that differs from the delimiter
 * at its very first character is read exactly. `tag` (with a nonce the body lacks) keeps any line from equalling it.
 */
export function heredocDelimiter(body: string, tag: string): string | undefined {
  const firsts = new Set(body.split('\n').map((line) => line.charAt(0)));
  const c = [...DELIMITER_FIRST].find((ch) => !firsts.has(ch));
  return c === undefined ? undefined : `${c}${tag}`;
}

export interface ParsedBatch {
  preamble: { stdout: string; stderr: string };
  /** Steps that completed, in order (timedOut false). */
  results: BatchStepResult[];
  /** The first completed step whose status is not ok. */
  stoppedAt: number | null;
  /** A step that began and did not end, with the output it produced. */
  running: { index: number; stdout: string; stderr: string } | null;
  /** The script ran to its end (Z). */
  complete: boolean;
}

/** Splits a stream at its markers: chunks[k] is the text before markers[k]; the last chunk is the tail. */
function split(text: string, nonce: string): { chunks: string[]; markers: string[] } {
  const re = new RegExp(`\\n@np:${nonce} ([^\\n]*)\\n`, 'g');
  const chunks: string[] = [];
  const markers: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    chunks.push(text.slice(last, m.index));
    markers.push(m[1]!);
    last = m.index + m[0].length;
  }
  chunks.push(text.slice(last));
  return { chunks, markers };
}

/** A clock reading: the kernel's monotonic clock (`k<ns>`) or date's wall clock (`<s>.<ns>`), as [clock, s, ns]. */
type Reading = [clock: 'k' | 'd', s: number, ns: number];

function parseTime(t: string | undefined): Reading | undefined {
  const k = /^k(\d+)$/.exec(t ?? '');
  if (k) {
    const digits = k[1]!.padStart(10, '0');
    return ['k', Number(digits.slice(0, -9)), Number(digits.slice(-9))];
  }
  const d = /^(\d+)(?:\.(.*))?$/.exec(t ?? '');
  if (!d) return undefined;
  // busybox date prints `%N` literally: whole seconds then.
  const ns = d[2] !== undefined && /^\d{1,9}$/.test(d[2]) ? Number(d[2].padEnd(9, '0')) : 0;
  return ['d', Number(d[1]), ns];
}

/** Milliseconds from a to b, seconds and nanoseconds kept apart so no precision is lost; 0 unless both come from one clock. */
function between(a: Reading | undefined, b: Reading | undefined): number {
  if (!a || !b || a[0] !== b[0]) return 0;
  return Math.max(0, (b[1] - a[1]) * 1000 + (b[2] - a[2]) / 1e6);
}

/**
 * Reads a batch's output strictly: markers must come in exactly the order the script prints
 * them, and nothing may appear between them but step output. Throws BatchFramingError otherwise.
 * The output may stop anywhere (a timeout or a killed shell): then `running` and `complete` say where.
 */
export function parseBatchOutput(stdout: string, stderr: string, nonce: string, steps: readonly BatchStep[]): ParsedBatch {
  const fail = (what: string): never => {
    throw new BatchFramingError(`batch output does not follow its framing: ${what}`);
  };
  const o = split(stdout, nonce);
  const results: BatchStepResult[] = [];
  let stoppedAt: number | null = null;
  let running: { index: number; stdout: string; began: Reading | undefined } | null = null;
  let complete = false;
  let i = 0; // the next step expected to begin
  for (let k = 0; k < o.markers.length; k++) {
    const f = o.markers[k]!.split(' ');
    const after = o.chunks[k + 1]!;
    const expectNothingAfter = () => after === '' || fail(`stdout: text after marker ${o.markers[k]}`);
    if (complete) {
      fail(`stdout: marker after Z: ${o.markers[k]}`);
    } else if (running) {
      if (f[0] !== 'E' || f.length !== 4 || f[1] !== String(i) || !/^\d+$/.test(f[2]!))
        fail(`stdout: expected E ${i}, got ${o.markers[k]}`);
      const exitCode = Number(f[2]);
      const ms = between(running.began, parseTime(f[3]));
      results.push({ exitCode, stdout: running.stdout, stderr: '', ms, timedOut: false });
      running = null;
      if (!(steps[i]!.okExitCodes ?? DEFAULT_OK).includes(exitCode)) stoppedAt = i;
      i++;
      expectNothingAfter();
    } else if (f[0] === 'Z' && f.length === 1) {
      if (stoppedAt === null && i !== steps.length) fail(`stdout: Z after ${i} of ${steps.length} steps`);
      complete = true;
      expectNothingAfter();
    } else {
      if (f[0] !== 'B' || f.length !== 3 || f[1] !== String(i)) fail(`stdout: expected B ${i}, got ${o.markers[k]}`);
      if (stoppedAt !== null || i >= steps.length) fail(`stdout: step ${i} began after the batch should have stopped`);
      running = { index: i, stdout: after, began: parseTime(f[2]) };
    }
  }

  // stderr: S, then each step's text closed by E i. At a cut it may be one E ahead of stdout
  // (E is printed on stderr first); between steps nothing writes to it.
  const e = split(stderr, nonce);
  if (e.markers.length === 0 && (results.length > 0 || running)) fail('stderr: no S marker, yet steps ran');
  if (e.markers.length > 0 && e.markers[0] !== 'S') fail(`stderr: expected S, got ${e.markers[0]}`);
  const errs: string[] = []; // stderr of each step that ended there
  for (let k = 1; k < e.markers.length; k++) {
    if (e.markers[k] !== `E ${k - 1}`) fail(`stderr: expected E ${k - 1}, got ${e.markers[k]}`);
    errs.push(e.chunks[k]!);
  }
  const tail = e.markers.length > 0 ? e.chunks[e.markers.length]! : '';
  const ranOnStdout = results.length + (running ? 1 : 0);
  if (errs.length < results.length || errs.length > ranOnStdout)
    fail(`stderr: ${errs.length} steps ended there, ${results.length} on stdout`);
  // Text after the last E belongs to a step still running; otherwise there must be none.
  if (tail !== '' && !(running && errs.length === running.index)) fail('stderr: text after the last step ended');
  results.forEach((r, n) => (r.stderr = errs[n]!));
  const runningOut = running && { index: running.index, stdout: running.stdout, stderr: errs[running.index] ?? tail };
  return { preamble: { stdout: o.chunks[0]!, stderr: e.chunks[0]! }, results, stoppedAt, running: runningOut, complete };
}
