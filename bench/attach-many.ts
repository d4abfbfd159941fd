/**
 * Benchmark 2 (`npm run bench -- attach-many`, or `npx tsx bench/attach-many.ts`): 100 running containers attached
 * to one OVS bridge by 100 concurrent `POST /attachments` (SDK, Promise.all), wall time, next to two floors typed into
 * the host's own shell in one `sh -c`:
 *   (a) the one-container floor script 100 times in a row;
 *   (b) the fully batched floor: one `docker inspect` for all pids, one `ip -batch` making all 100 veths (peers in
 *       the containers' namespaces), one `ovs-vsctl` transaction adding all 100 ports, then per container one
 *       `nsenter --net=/proc/PID/ns/net ip -batch -` (address + up) and one nsenter ethtool (no sh inside).
 * Goal: API ≤ 1.5 s. The containers are started before any timing; each round runs API, (a), (b) on the same
 * containers, cleaning up between (untimed). BENCH_RUNS rounds (default 3), BENCH_CONTAINERS (default 100).
 * Sandbox prefix `bkm`.
 */
import { down, up, type Sandbox } from '../test/testbed/sandbox.js';
import type { Job, NetplumbClient } from '../sdk/src/index.js';
import os from 'node:os';
import {
  attachFloorScript,
  cores,
  cpuMeter,
  type CpuShare,
  explain,
  header,
  hostSh,
  jobStepTime,
  median,
  ms,
  sec,
  sshHostBody,
  startContainers,
  startService,
  time,
  vswitchdPid,
  watchdog,
} from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = Number(process.env.BENCH_CONTAINERS ?? 100);
const PREFIX = 'bkm';
const HOST = 'docker1';
const BRIDGE = 'ovs_bridge';
const names = Array.from({ length: N }, (_, i) => `m${i}`);
const cidr = (i: number) => `10.11.${12 + Math.floor((10 + i) / 250)}.${(10 + i) % 250}/16`;

/** (a): the one-container floor, N times in a row. */
const floorA = ['set -e', ...names.map((c, i) => attachFloorScript(c, `vfa${i}`, cidr(i), BRIDGE))].join('\n');

/** (b): native batching everywhere, one shell on the host. */
const floorB = [
  'set -e',
  `pids=$(docker inspect -f '{{.State.Pid}}' ${names.join(' ')})`,
  `i=0; for pid in $pids; do echo "link add dev vfb$i type veth peer name eth1 netns $pid"; echo "link set dev vfb$i up"; i=$((i+1)); done | ip -batch -`,
  `ovs-vsctl ${names.map((_, i) => `-- add-port ${BRIDGE} vfb${i}`).join(' ')}`,
  `set -- ${names.map((_, i) => cidr(i)).join(' ')}`,
  `for pid in $pids; do printf 'addr add %s dev eth1\\nlink set dev eth1 up\\n' "$1" | nsenter --net=/proc/$pid/ns/net ip -batch -; nsenter --net=/proc/$pid/ns/net ethtool -K eth1 tx off >/dev/null; shift; done`,
].join('\n');

/** Removes what a floor made: all its ports in one transaction, all its host ends in one ip -batch. */
const cleanFloor = (p: string) =>
  [
    `ovs-vsctl ${names.map((_, i) => `-- --if-exists del-port ${BRIDGE} ${p}${i}`).join(' ')}`,
    `printf '${names.map((_, i) => `link del dev ${p}${i}`).join('\\n')}\\n' | ip -batch -`,
  ].join('\n');

/** After a round: N ports on the bridge, and every container has eth1 up with its address. */
async function check(sb: Sandbox, what: string, ports0 = N): Promise<void> {
  const ports = (await hostSh(sb, HOST, `ovs-vsctl list-ports ${BRIDGE} | wc -l`)).trim();
  const withAddr = (
    await hostSh(
      sb,
      HOST,
      `n=0; for pid in $(docker inspect -f '{{.State.Pid}}' ${names.join(' ')}); do nsenter --net=/proc/$pid/ns/net ip -4 -o addr show dev eth1 up | grep -q 'inet 10.11.' && n=$((n+1)); done; echo $n`,
    )
  ).trim();
  if (Number(ports) !== ports0 || Number(withAddr) !== N)
    console.log(`!! ${what}: ${ports} ports on ${BRIDGE}, ${withAddr} containers with eth1 up and addressed (want ${ports0} and ${N})`);
}

interface JobTimes {
  admitSpan: number;
  runMedian: number;
  runMax: number;
  waitMedian: number;
  stepMedian: number;
  stepSum: number;
}

/** From the jobs' timestamps: how long admitting the burst took, how long each job waited and ran; from their logs, the host-side time. */
async function jobTimes(np: NetplumbClient, jobs: Job[]): Promise<JobTimes> {
  const done = await Promise.all(jobs.map((j) => np.jobs.get(j.id)));
  const at = (s: string | null) => (s ? Date.parse(s) : NaN);
  const created = done.map((j) => at(j.createdAt));
  const run = done.map((j) => at(j.finishedAt) - at(j.startedAt));
  const steps = await Promise.all(done.map((j) => jobStepTime(np, j.id)));
  return {
    admitSpan: Math.max(...created) - Math.min(...created),
    runMedian: median(run),
    runMax: Math.max(...run),
    waitMedian: median(done.map((j) => at(j.startedAt) - at(j.createdAt))),
    stepMedian: median(steps.map((s) => s.ms)),
    stepSum: steps.reduce((a, s) => a + s.ms, 0),
  };
}

header(`${N} containers attached to one OVS bridge: ${N} concurrent POST /attachments vs floors`);
await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }] });
const svc = await startService().catch(async (e) => {
  await sb.down();
  throw e;
});
try {
  const { np } = svc;
  await np.hosts.create(sshHostBody(sb, HOST)).catch((e) => explain(np, e));
  const newBridge = () => np.bridges.create({ host: HOST, name: BRIDGE, addresses: ['10.11.0.1/16'] }).catch((e) => explain(np, e));
  let bridge = await newBridge();
  const startMs = await time(() => startContainers(sb, HOST, 'm', N + 1));
  console.log(`(started ${N + 1} containers in ${sec(startMs)}, untimed)`);
  // warm-up, untimed: the SSH connection and the Docker stream are open before the first round
  await np.attachments
    .create({ bridge: bridge.id, target: { container: `m${N}` }, addresses: ['10.12.0.2/16'] })
    .catch((e) => explain(np, e));

  const api: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  const perRequest: number[] = [];
  const rounds: JobTimes[] = [];
  const cpu: CpuShare[] = [];
  for (let r = 0; r < RUNS; r++) {
    const lat: number[] = [];
    const jobs: Job[] = [];
    const stop = await cpuMeter({ 'ovs-vswitchd': await vswitchdPid(sb, HOST) });
    // The watchdog: a round where nothing finishes for BENCH_STALL_S (60 s) prints what every job waits for and ends
    // the bench with exit 3 instead of hanging (issue 33).
    const dog = watchdog(svc);
    try {
      api.push(
        await time(() =>
          dog.guard(
            Promise.all(
              names.map(async (c, i) => {
                const t = performance.now();
                const att = await np.attachments
                  .create({ bridge: bridge.id, target: { container: c }, addresses: [cidr(i)] })
                  .catch((e) => explain(np, e));
                dog.progress();
                if (att.job) jobs.push(att.job);
                lat.push(performance.now() - t);
              }),
            ),
          ),
        ),
      );
    } finally {
      dog.stop();
    }
    cpu.push(await stop());
    perRequest.push(...lat);
    if (r === 0) await check(sb, 'API', N + 1); // + the warm-up attachment
    rounds.push(await jobTimes(np, jobs));
    await np.bridges.delete(bridge.id, { cascade: true }).catch((e) => explain(np, e));
    bridge = await newBridge();

    a.push(await time(() => hostSh(sb, HOST, floorA)));
    if (r === 0) await check(sb, 'floor (a)');
    await hostSh(sb, HOST, cleanFloor('vfa'));

    b.push(await time(() => hostSh(sb, HOST, floorB)));
    if (r === 0) await check(sb, 'floor (b)');
    await hostSh(sb, HOST, cleanFloor('vfb'));
  }

  const mA = median(api);
  const fa = median(a);
  const fb = median(b);
  const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
  console.log(`attach ${N} containers to one OVS bridge (median of ${RUNS} rounds; each round API, (a), (b) on the same containers):`);
  console.log(`  API, ${N} concurrent POST /attachments: ${sec(mA)}   [${list(api)}]   (goal ≤ 1.5 s)`);
  console.log(
    `    one request's latency within the burst: median ${ms(median(perRequest))}, max ${ms(Math.max(...perRequest))} (${perRequest.length} requests)`,
  );
  console.log(`    where the API's time went, per round (from the jobs' records and logs):`);
  for (const [i, t] of rounds.entries()) {
    console.log(
      `      round ${i + 1}: jobs created over ${ms(t.admitSpan)} (${ms(t.admitSpan / N)} a request); job run median ${ms(t.runMedian)}, max ${ms(t.runMax)}; ` +
        `host-side command time median ${ms(t.stepMedian)} a job (${ms(t.stepSum)} in all); queued median ${ms(t.waitMedian)}`,
    );
    const u = cpu[i]!;
    console.log(
      `        CPU during the burst: machine ${cores(u.machine)} of ${os.cpus().length}, this process (service + SDK) ${cores(u.self)} = ${ms((u.self * u.wallMs) / N)} CPU an attach, the host's ovs-vswitchd ${cores(u.watched['ovs-vswitchd']!)}`,
    );
  }
  console.log(`  floor (a), ${N} one-container scripts in a row: ${sec(fa)}   [${list(a)}]`);
  console.log(`  floor (b), fully batched:                     ${sec(fb)}   [${list(b)}]`);
  console.log(`  API / floor (a): ${(mA / fa).toFixed(2)}x;  API / floor (b): ${(mA / fb).toFixed(2)}x;  API − floor (b): ${sec(mA - fb)}`);
  console.log(`  per container: API ${ms(mA / N)}, floor (a) ${ms(fa / N)}, floor (b) ${ms(fb / N)}`);
} catch (e) {
  console.log(`!! ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = /stalled/.test(String(e)) ? 3 : 1;
} finally {
  await svc.close();
  await sb.down();
}
