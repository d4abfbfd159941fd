/**
 * Benchmark 4 (`npm run bench -- slow-shell`, or `npx tsx bench/slow-shell.ts`): a sandbox host whose root login
 * shell takes 300 ms to start (its .bashrc sleeps, as pyenv/nvm/conda init does; slowShellMs). Attach one container
 * through the API vs the floor on that host (the floor is typed into an already open shell, so it pays no start-up),
 * medians of BENCH_N (default 10) interleaved runs; prints API − floor (goal ≤ 400 ms) and how many shells one attach
 * started (lines in <homeDir>/.shell-starts before/after), with and without the background gratuitous ARP.
 * Sandbox prefix `bkw`.
 */
import path from 'node:path';
import { hostExecutor } from '../src/services.js';
import { down, up } from '../test/testbed/sandbox.js';
import {
  attachVsFloor,
  countLines,
  explain,
  header,
  jobTimeline,
  median,
  ms,
  sleep,
  sshHostBody,
  startContainers,
  startService,
  time,
} from './lib.js';

const N = Number(process.env.BENCH_N ?? 10);
const SLOW_MS = 300;
const PREFIX = 'bkw';
const HOST = 'slow';
/** Long enough for the background gratuitous ARP (~1 s, its own channel) to have started its shell. */
const SETTLE_MS = 2500;

header(`attach one container on a host whose login shell takes ${SLOW_MS} ms to start`);
await down(PREFIX).catch(() => undefined);
const sb = await up({
  prefix: PREFIX,
  hosts: [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1', slowShellMs: SLOW_MS }],
});
const svc = await startService().catch(async (e) => {
  await sb.down();
  throw e;
});
try {
  const { np } = svc;
  const starts = path.join(sb.host(HOST).homeDir, '.shell-starts');
  const count = () => countLines(starts);

  let c0 = await count();
  const regMs = await time(() => np.hosts.create(sshHostBody(sb, HOST)).catch((e) => explain(np, e)));
  const regShells = (await count()) - c0;
  await np.bridges.create({ host: HOST, name: 'ovs_bridge', addresses: ['10.11.12.1/24'] }).catch((e) => explain(np, e));
  await startContainers(sb, HOST, 'c', 2 * N + 2);

  // The first attach opens the Docker stream: counted apart.
  c0 = await count();
  const firstMs = await time(() =>
    np.attachments
      .create({ bridge: `${HOST}/ovs_bridge`, target: { container: `c${2 * N}` }, addresses: ['10.11.13.250/24'] })
      .catch((e) => explain(np, e)),
  );
  await sleep(SETTLE_MS);
  const firstShells = (await count()) - c0;

  c0 = await count();
  const r = await attachVsFloor(sb, np, HOST, 'c', N, { warmUp: false });
  await sleep(SETTLE_MS);
  const loopShells = (await count()) - c0;

  // One attach alone: shells while the request runs, then after the background ARP.
  c0 = await count();
  await np.attachments
    .create({ bridge: `${HOST}/ovs_bridge`, target: { container: `c${2 * N + 1}` }, addresses: ['10.11.13.251/24'] })
    .catch((e) => explain(np, e));
  const oneDuring = (await count()) - c0;
  await sleep(SETTLE_MS);
  const oneAfter = (await count()) - c0;

  c0 = await count();
  const floorOnly = await time(() => sb.exec(HOST, ['sh', '-c', 'true']));
  const floorShells = (await count()) - c0;

  const ssh = await hostExecutor(svc.deps, HOST);
  const rtt: number[] = [];
  for (let i = 0; i < 5; i++) rtt.push(await time(() => ssh.run(['true'])));

  // The timeline of the job closest to the median: where its time went.
  const a = median(r.api);
  const near = r.api.map((x, i) => [Math.abs(x - a), i] as const).sort((p, q) => p[0] - q[0])[0]![1];
  const timeline = r.jobIds[near] ? await jobTimeline(np, r.jobIds[near]) : [];
  const f = median(r.floor);
  console.log(`attach one container, host "${HOST}" with a ${SLOW_MS} ms shell start (median of ${N} runs each, interleaved):`);
  console.log(`  through the API: ${ms(a)}   [${r.api.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`  floor (typed into the host's open shell): ${ms(f)}   [${r.floor.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`  API − floor: ${ms(a - f)}   (goal ≤ 400 ms)   ratio ${(a / f).toFixed(1)}x`);
  console.log(
    `  shell starts per attach: ${(loopShells / N).toFixed(1)} (${loopShells} over ${N} attaches, incl. background gratuitous ARP)`,
  );
  console.log(`  one attach alone: ${oneDuring} shell start(s) while the request ran, ${oneAfter} after its background ARP`);
  console.log(
    `  first attach (opens the Docker stream): ${ms(firstMs)}, ${firstShells} shell starts; registering the host: ${ms(regMs)}, ${regShells} shell starts`,
  );
  console.log(
    `  one trivial command over the persistent SSH connection: ${ms(median(rtt))} (median of 5); the floor's own shell: ${ms(floorOnly)}, ${floorShells} shell starts`,
  );
  console.log(`  the median attach's job log (times from the service's clock):`);
  for (const l of timeline) console.log(`    ${l}`);
} finally {
  await svc.close();
  await sb.down();
}
