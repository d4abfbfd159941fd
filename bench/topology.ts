/**
 * Benchmark (`npm run bench -- topology`, or `npx tsx bench/topology.ts`): a topology of 100 containers, 50 on each
 * of two hosts, one network joined by a VXLAN tunnel: apply and delete wall times through the API, next to the
 * floor of the same work typed into the two hosts' shells (both hosts at once: bridge, tunnel end, 50 attachments
 * each, as attachFloorScript does them). Goal: apply ≤ 1 s. BENCH_RUNS (default 3), BENCH_CONTAINERS per host
 * (default 50). Sandbox prefix `bkt`.
 */
import { down, SEED_HOSTS, up } from '../test/testbed/sandbox.js';
import { attachFloorScript, header, hostSh, median, sec, sshHostBody, startContainers, startService, time } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PER_HOST = Number(process.env.BENCH_CONTAINERS ?? 50);
const PREFIX = 'bkt';

header(`a topology of ${2 * PER_HOST} containers (${PER_HOST} on each of two hosts), one network: apply and delete vs the floor`);
await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: SEED_HOSTS });
const svc = await startService();
try {
  const hosts = ['docker1', 'docker3'] as const;
  const t0 = performance.now();
  await Promise.all(hosts.map((h) => startContainers(sb, h, `${h}c`, PER_HOST)));
  console.log(`(started ${2 * PER_HOST} containers in ${sec(performance.now() - t0)}, untimed)`);
  for (const h of hosts) await svc.np.hosts.create(sshHostBody(sb, h));

  const doc = {
    networks: {
      lab: {
        subnet: '10.50.0.0/16',
        tunnel: { type: 'vxlan' as const },
        members: hosts.flatMap((h) => Array.from({ length: PER_HOST }, (_, i) => ({ host: h, container: `${h}c${i}` }))),
      },
    },
  };
  // The floor: per host, a bridge, its tunnel end and the attachments, in one sh, both hosts at once.
  const floorScript = (h: (typeof hosts)[number], other: string) =>
    [
      'set -e',
      'ovs-vsctl add-br flbr -- set Bridge flbr datapath_type=netdev',
      `ovs-vsctl add-port flbr flvx -- set Interface flvx type=vxlan options:remote_ip=${other} options:key=77`,
      ...Array.from({ length: PER_HOST }, (_, i) =>
        attachFloorScript(`${h}c${i}`, `fl${i}`, `10.51.${h === 'docker1' ? 0 : 1}.${i + 1}/16`, 'flbr'),
      ),
    ].join('\n');
  const floorDown = () => [...Array.from({ length: PER_HOST }, (_, i) => `ip link del dev fl${i}`), 'ovs-vsctl del-br flbr'].join('\n');

  const apply: number[] = [];
  const remove: number[] = [];
  const floorUp: number[] = [];
  const floorRemove: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    apply.push(
      await time(async () => {
        const t = await svc.np.topologies.apply('bench', doc);
        if (t.state !== 'ready') throw new Error(`topology ${t.state}`);
      }),
    );
    remove.push(await time(() => svc.np.topologies.delete('bench')));
    floorUp.push(
      await time(() =>
        Promise.all([
          hostSh(sb, 'docker1', floorScript('docker1', sb.host('docker3').underlayIp)),
          hostSh(sb, 'docker3', floorScript('docker3', sb.host('docker1').underlayIp)),
        ]),
      ),
    );
    floorRemove.push(await time(() => Promise.all(hosts.map((h) => hostSh(sb, h, floorDown())))));
  }
  const a = median(apply);
  const f = median(floorUp);
  console.log(`topology of ${2 * PER_HOST} containers on 2 hosts (median of ${RUNS} runs):`);
  console.log(`  apply through the API:   ${sec(a)}   [${apply.map(sec).join(', ')}]   (goal ≤ 1 s)`);
  console.log(`  floor, typed by hand:    ${sec(f)}   [${floorUp.map(sec).join(', ')}]   ratio API / floor ${(a / f).toFixed(2)}x`);
  console.log(`  delete through the API:  ${sec(median(remove))}   [${remove.map(sec).join(', ')}]`);
  console.log(`  floor delete:            ${sec(median(floorRemove))}   [${floorRemove.map(sec).join(', ')}]`);
} finally {
  await svc.close();
  await sb.down();
}
