/**
 * Benchmark (run by hand: `npx tsx bench/batch.ts`): N trivial commands over SSH to a sandbox
 * host, one channel each (as a plan ran before batches) vs one one-off batch (runBatch: its own
 * channel and login shell) vs one batch on a warm shell session (SshExecutor.runBatch), on a plain
 * host and on one whose root .bashrc sleeps 300 ms (pyenv/nvm/conda init). Brings up its own hosts
 * (prefix `bxb`) and removes them. Compare ratios within one run, not absolute times: the machine
 * is shared. BENCH_RUNS (default 5) runs per figure; the slow host's one-by-one runs are capped at 3.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { runBatch, type BatchResult, type BatchStep } from '../src/exec/batch.js';
import { quoteArgv } from '../src/exec/quote.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { down, up } from '../test/testbed/sandbox.js';

const PREFIX = 'bxb';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZES = [9, 50]; // 9: an attachment plan
const SLOW_MS = 300;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

await down(PREFIX).catch(() => undefined);
const sb = await up({
  prefix: PREFIX,
  withDocker: false,
  hosts: [
    { name: 'plain', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
    { name: 'slow', underlayCidr: '10.10.10.102/24', underlayGw: '10.10.10.1', slowShellMs: SLOW_MS },
  ],
});
const executors: SshExecutor[] = [];
try {
  const rows: string[] = [];
  let stepMs: number[] = [];
  let rtt = 0;
  const floors: string[] = [];
  for (const host of ['plain', 'slow'] as const) {
    const h = sb.host(host);
    // A long idle time: the slow host's one-by-one runs between two session batches take longer than the default.
    const ex = new SshExecutor({
      address: h.mgmtIp,
      port: h.sshPort,
      privateKeyPath: sb.clientKeyPath,
      hostKeySha256: h.hostKeySha256,
      shellSessionIdleMs: 600_000,
    });
    executors.push(ex);
    await ex.run(['true']); // connect outside the measurements
    await ex.runBatch([{ argv: ['true'] }]); // warm-up: the session's login shell is paid here, once
    if (host === 'plain') {
      const rtts: number[] = [];
      for (let i = 0; i < 20; i++) rtts.push(await time(() => ex.run(['true'])));
      rtt = median(rtts);
    }
    for (const n of SIZES) {
      const steps: BatchStep[] = Array.from({ length: n }, (_, i) => ({ argv: ['echo', `step ${i}`] }));
      const aloneRuns = host === 'slow' ? Math.min(RUNS, 3) : RUNS;
      const alone: number[] = [];
      const batch: number[] = [];
      const session: number[] = [];
      const check = (res: BatchResult | undefined) => {
        if (res?.stoppedAt !== null || res.results.length !== n || res.results.some((x, i) => x.stdout !== `step ${i}\n`))
          throw new Error('batch failed');
      };
      // Interleaved, so drift on the shared machine hits all alike.
      for (let r = 0; r < RUNS; r++) {
        if (r < aloneRuns) {
          alone.push(
            await time(async () => {
              for (const s of steps) if ((await ex.run(s.argv)).exitCode !== 0) throw new Error('step failed');
            }),
          );
        }
        let res: BatchResult | undefined;
        batch.push(await time(async () => (res = await runBatch(ex, steps))));
        check(res);
        if (host === 'plain') stepMs = stepMs.concat(res!.results.map((x) => x.ms));
        session.push(await time(async () => (res = await ex.runBatch(steps))));
        check(res);
      }
      if (ex.shellSessions.open !== 1) throw new Error('the session did not last');
      const a = median(alone);
      const b = median(batch);
      const c = median(session);
      if (host === 'plain') {
        // The same programs in one sh without framing: what the batch itself adds.
        const bare = steps.map((s) => `(exec ${quoteArgv(s.argv)}) </dev/null`).join('\n') + '\n';
        const floor: number[] = [];
        for (let r = 0; r < RUNS; r++) floor.push(await time(() => ex.run(['sh', '-s'], { stdin: bare })));
        floors.push(`${n} steps ${median(floor).toFixed(1)} ms (one-off batch ${b.toFixed(1)} ms, session ${c.toFixed(1)} ms)`);
      }
      const cell = (ms: number, runs: number, width: number) => `${ms.toFixed(1)} (${runs})`.padStart(width);
      rows.push(
        `  ${host.padEnd(6)} ${String(n).padStart(5)}  ${cell(a, aloneRuns, 17)}  ${cell(b, RUNS, 14)}  ${cell(c, RUNS, 14)}` +
          `  ${`${(a / c).toFixed(1)}x`.padStart(13)}  ${`${(b / c).toFixed(1)}x`.padStart(15)}  ${(a / n).toFixed(2).padStart(13)}  ${(c / n).toFixed(2).padStart(7)}`,
      );
    }
  }
  console.log(`N trivial commands (echo) over SSH to a sandbox host: one channel each vs one one-off batch vs one batch on a warm session`);
  console.log(`cores: ${os.cpus().length}; times in ms, medians of (runs) runs; "slow" = root .bashrc sleeps ${SLOW_MS} ms`);
  console.log(`  host   steps  one-by-one (runs)  one-off (runs)  session (runs)  alone/session  one-off/session  ms/step alone  session`);
  for (const r of rows) console.log(r);
  console.log(`  one trivial command over the persistent connection (plain): ${rtt.toFixed(2)} ms (median of 20)`);
  console.log(
    `  one step's own time inside a one-off batch (plain, host's clock): ${median(stepMs).toFixed(2)} ms (median of ${stepMs.length})`,
  );
  console.log(`  floor, the same programs in one sh over one channel without framing (plain): ${floors.join(', ')}`);
} finally {
  await Promise.all(executors.map((e) => e.close()));
  await sb.down();
}
