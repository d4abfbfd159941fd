/**
 * `npm run bench` runs every benchmark in sequence, each in its own process (its own sandbox prefix, torn down
 * in its finally); `npm run bench -- seed many-hosts` runs those only. Each script also runs alone:
 * `npx tsx bench/<name>.ts`. Environment knobs (BENCH_N, BENCH_RUNS, …) are described at the top of each script.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ALL = ['attach', 'slow-shell', 'seed', 'attach-many', 'many-hosts', 'topology', 'batch', 'replicas', 'startup'];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !ALL.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; have: ${ALL.join(', ')}`);
  process.exit(2);
}
const dir = path.dirname(fileURLToPath(import.meta.url));
const failed: string[] = [];
for (const name of wanted.length ? wanted : ALL) {
  const t = performance.now();
  // process.execArgv carries tsx's loader, so the child runs TypeScript the same way.
  const code = await new Promise<number>((resolve) => {
    spawn(process.execPath, [...process.execArgv, path.join(dir, `${name}.ts`)], { stdio: 'inherit' }).once('close', (c) =>
      resolve(c ?? 1),
    );
  });
  console.log(`-- ${name}: exit ${code} after ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
