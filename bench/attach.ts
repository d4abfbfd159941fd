/**
 * Benchmark 1 (`npm run bench -- attach`, or `npx tsx bench/attach.ts`): median time to attach one running
 * container to an OVS bridge through the API on an SSH sandbox host, next to the floor — the same work typed into
 * the host's own shell (TESTBED.md: docker inspect for the pid, ip link add … netns, address + up + ethtool inside,
 * ovs-vsctl add-port, up). Goal: ratio ≤ 1.2 (it was 2.6 before batching). API and floor runs are interleaved so
 * drift on the shared machine hits both alike. BENCH_N (default 10) runs each. Sandbox prefix `bka`.
 */
import { down, up } from '../test/testbed/sandbox.js';
import { attachVsFloor, explain, header, jobStepTime, median, ms, sshHostBody, startContainers, startService, time } from './lib.js';
import { hostExecutor } from '../src/services.js';

const N = Number(process.env.BENCH_N ?? 10);
const PREFIX = 'bka';
const HOST = 'docker1';

header('attach one container through the API vs the floor');
await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }] });
const svc = await startService().catch(async (e) => {
  await sb.down();
  throw e;
});
try {
  const { np } = svc;
  await np.hosts.create(sshHostBody(sb, HOST)).catch((e) => explain(np, e));
  await np.bridges.create({ host: HOST, name: 'ovs_bridge', addresses: ['10.11.12.1/24'] }).catch((e) => explain(np, e));
  await startContainers(sb, HOST, 'c', 2 * N + 1);

  const r = await attachVsFloor(sb, np, HOST, 'c', N);

  const ssh = hostExecutor(svc.deps, HOST);
  const rtt: number[] = [];
  for (let i = 0; i < 20; i++) rtt.push(await time(() => ssh.run(['true'])));
  const steps = await Promise.all(r.jobIds.map((id) => jobStepTime(np, id)));

  const a = median(r.api);
  const f = median(r.floor);
  console.log(`attach one container to an OVS bridge (median of ${N} runs each, interleaved):`);
  console.log(`  through the API (SDK → service → SSH → host): ${ms(a)}   (min ${ms(Math.min(...r.api))}, max ${ms(Math.max(...r.api))})`);
  console.log(
    `  floor (same commands in the host's own shell): ${ms(f)}   (min ${ms(Math.min(...r.floor))}, max ${ms(Math.max(...r.floor))})`,
  );
  console.log(`  ratio API / floor: ${(a / f).toFixed(2)}x   (goal ≤ 1.2x; 2.6x before batching)`);
  console.log(`  samples API: ${r.api.map((x) => x.toFixed(0)).join(' ')} ms; floor: ${r.floor.map((x) => x.toFixed(0)).join(' ')} ms`);
  console.log(`  API − floor: ${ms(a - f)}`);
  console.log(
    `  host-side time of the job's commands (job logs): ${ms(median(steps.map((s) => s.ms)))} for ${median(steps.map((s) => s.commands))} commands (median of ${steps.length} jobs)`,
  );
  console.log(
    `  one trivial command over the persistent SSH connection: ${ms(median(rtt))} (median of 20); API attach ≈ ${(a / median(rtt)).toFixed(1)} of them`,
  );
} finally {
  await svc.close();
  await sb.down();
}
