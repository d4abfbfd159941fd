/**
 * Start-up and footprint of the service as users start it: the built service (`node dist/server.mjs`, and through
 * `npm start`) against the TypeScript sources run through tsx (`node --import tsx src/server.ts`, and `npm run
 * start:tsx`, which is what `npm start` was). For each: milliseconds from spawn to the first 200 from /healthz, then
 * the resident memory of the whole process tree (npm, node) after 1,000 requests (a mix of /healthz, GET /bridges and
 * GET /jobs). `npm start` runs node with --max-semi-space-size=1: V8's young generation otherwise grows to 16 MB per
 * semi-space under request load, garbage the service does not need kept resident (measured separately here). Runs alternate between the variants so machine noise spreads over all of them.
 *
 * BENCH_RUNS (default 5) runs per variant. Goal (issue 19): built ≤ 300 ms and ≤ 80 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { header, median, sleep } from './lib.js';
import { buildAll } from '../scripts/build.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const REQUESTS = 1000;

interface Variant {
  name: string;
  argv: string[];
}
const VARIANTS: Variant[] = [
  { name: 'built: node dist/server.mjs', argv: [process.execPath, 'dist/server.mjs'] },
  { name: 'built: node --max-semi-space-size=1 …', argv: [process.execPath, '--max-semi-space-size=1', 'dist/server.mjs'] },
  { name: 'built: npm start', argv: ['npm', 'start', '--silent'] },
  { name: 'tsx: node --import tsx src/server.ts', argv: [process.execPath, '--import', 'tsx', 'src/server.ts'] },
  { name: 'tsx: npm run start:tsx', argv: ['npm', 'run', '--silent', 'start:tsx'] },
];

/** Resident set of a process and all its descendants, in MB (from /proc). */
function treeRssMb(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone */
    }
  }
  let kb = 0;
  const visit = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      /* gone */
    }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return kb / 1024;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  await Promise.race([closed, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

let port = 28_000 + Math.floor(Math.random() * 1000);
async function once(v: Variant): Promise<{ startMs: number; rssMb: number }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'np-bench-start-'));
  const url = `http://127.0.0.1:${++port}`;
  const t0 = performance.now();
  const child = spawn(v.argv[0]!, v.argv.slice(1), {
    cwd: root,
    env: { ...process.env, PORT: String(port), NETPLUMB_DB: path.join(dataDir, 'np.db') },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${v.name} exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) break;
      } catch {
        /* not listening yet */
      }
      await sleep(2);
    }
    const startMs = performance.now() - t0;
    const paths = ['/healthz', '/bridges', '/jobs'];
    for (let i = 0; i < REQUESTS; i += 10) {
      await Promise.all(paths.flatMap((p) => [0, 1, 2].map(() => fetch(`${url}${p}`).then((r) => r.arrayBuffer()))));
      await fetch(`${url}/healthz`).then((r) => r.arrayBuffer());
    }
    return { startMs, rssMb: treeRssMb(child.pid!) };
  } finally {
    await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

header('start-up: built service vs tsx');
await buildAll({ quiet: true });
const results = new Map<string, { startMs: number[]; rssMb: number[] }>(VARIANTS.map((v) => [v.name, { startMs: [], rssMb: [] }]));
for (let run = 0; run < RUNS; run++) {
  for (const v of VARIANTS) {
    const r = await once(v);
    results.get(v.name)!.startMs.push(r.startMs);
    results.get(v.name)!.rssMb.push(r.rssMb);
  }
}
const builtStart = median(results.get(VARIANTS[0]!.name)!.startMs);
const tsxStart = median(results.get(VARIANTS[3]!.name)!.startMs);
console.log(`${RUNS} runs each, medians; resident memory is the whole process tree after ${REQUESTS} requests`);
for (const v of VARIANTS) {
  const r = results.get(v.name)!;
  console.log(
    `${v.name.padEnd(42)} start → first /healthz ${median(r.startMs).toFixed(0).padStart(5)} ms   rss ${median(r.rssMb).toFixed(0).padStart(4)} MB`,
  );
}
console.log(`tsx / built start-up: ${(tsxStart / builtStart).toFixed(1)}×`);
