/**
 * Benchmark 5 (`npm run bench -- many-hosts`, or `npx tsx bench/many-hosts.ts`): N light sandbox hosts (OVS and sshd,
 * no dockerd), each on its own underlay /24 behind the sandbox's router (as SEED_HOSTS are), requests in parallel:
 * register them all (Promise.all), an OVS bridge on each, then a VXLAN star from the first host to every other one
 * (VNI = spoke number; every tunnel holds the hub, so they run one after the other there, by design). Prints
 * register / bridges / tunnels / total for each N in BENCH_HOSTS (default 10,20,40), each with a fresh service (new
 * store, no connections); the network is torn down between sizes (DELETE /bridges/{id}?cascade=true, untimed).
 * Before batching: 20 hosts 21.7 s, 40 hosts 44.7 s; goal: 20 hosts ≤ 5 s. BENCH_RUNS (default 3) runs per size.
 * Sandbox prefix `bkh`.
 */
import { down, up, type Sandbox } from '../test/testbed/sandbox.js';
import type { NetplumbClient } from '../sdk/src/index.js';
import { explain, header, hostSh, median, sec, sshHostBody, startService, time } from './lib.js';

const SIZES = (process.env.BENCH_HOSTS ?? '10,20,40').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PREFIX = 'bkh';
const MAX = Math.max(...SIZES);
if (MAX > 200 || SIZES.some((n) => !Number.isInteger(n) || n < 2)) throw new Error('BENCH_HOSTS: sizes from 2 to 200');
const name = (i: number) => `h${i + 1}`;
/** Host i on 10.60.(i+1).2/24, its gateway .1 in the router: every host its own subnet. */
const specs = Array.from({ length: MAX }, (_, i) => ({
  name: name(i),
  underlayCidr: `10.60.${i + 1}.2/24`,
  underlayGw: `10.60.${i + 1}.1`,
}));

interface Phases {
  register: number;
  bridges: number;
  tunnels: number;
  total: number;
}

async function star(sb: Sandbox, np: NetplumbClient, n: number): Promise<Phases> {
  const hosts = specs.slice(0, n).map((s) => s.name);
  const e = (err: unknown) => explain(np, err);
  const register = await time(() => Promise.all(hosts.map((h) => np.hosts.create(sshHostBody(sb, h)).catch(e))));
  const bridges: string[] = [];
  const br = await time(() =>
    Promise.all(hosts.map(async (h) => bridges.push((await np.bridges.create({ host: h, name: 'ovs_bridge' }).catch(e)).id))),
  );
  const tun = await time(() =>
    Promise.all(
      hosts
        .slice(1)
        .map((h, i) =>
          np.tunnels
            .create({ type: 'vxlan', key: i + 1, endpoints: [{ bridge: `${hosts[0]}/ovs_bridge` }, { bridge: `${h}/ovs_bridge` }] })
            .catch(e),
        ),
    ),
  );
  // The star is there: n−1 VXLAN ports on the hub, none in error.
  const hub = (await hostSh(sb, hosts[0]!, `ovs-vsctl --bare --columns=name,error find Interface type=vxlan`))
    .split('\n')
    .filter((l) => l.trim());
  const errors = hub.filter((l) => !l.startsWith('vxlan-'));
  if (hub.length - errors.length !== n - 1 || errors.length)
    console.log(`!! N=${n}: hub has ${hub.length - errors.length} VXLAN ports (want ${n - 1}); errors: ${errors.join(' | ')}`);
  // teardown, untimed: the hub's bridge takes every tunnel with it
  const hubBridge = (await np.bridges.get(`${hosts[0]}/ovs_bridge`)).id;
  await np.bridges.delete(hubBridge, { cascade: true }).catch(e);
  await Promise.all(bridges.filter((b) => b !== hubBridge).map((b) => np.bridges.delete(b, { cascade: true }).catch(e)));
  return { register, bridges: br, tunnels: tun, total: register + br + tun };
}

header('many hosts: register, a bridge on each, a VXLAN star, requests in parallel');
await down(PREFIX).catch(() => undefined);
const upMs = performance.now();
const sb = await up({ prefix: PREFIX, withDocker: false, hosts: specs });
console.log(`(sandbox of ${MAX} light hosts, each its own /24 via the router, up in ${sec(performance.now() - upMs)}, untimed)`);
try {
  const rows: { n: number; p: Phases; runs: Phases[] }[] = [];
  for (const n of SIZES) {
    const runs: Phases[] = [];
    for (let r = 0; r < RUNS; r++) {
      const svc = await startService();
      try {
        runs.push(await star(sb, svc.np, n));
      } finally {
        await svc.close();
      }
    }
    const p = {
      register: median(runs.map((x) => x.register)),
      bridges: median(runs.map((x) => x.bridges)),
      tunnels: median(runs.map((x) => x.tunnels)),
      total: median(runs.map((x) => x.total)),
    };
    rows.push({ n, p, runs });
  }
  const base = rows[0]!;
  console.log(`N hosts, requests in parallel (median of ${RUNS} run(s) per N; a fresh service per run):`);
  console.log(`      N   register    bridges    tunnels      total   total/host   total vs N=${base.n}`);
  for (const { n, p } of rows) {
    console.log(
      `  ${String(n).padStart(5)} ${sec(p.register).padStart(10)} ${sec(p.bridges).padStart(10)} ${sec(p.tunnels).padStart(10)} ${sec(p.total).padStart(10)} ${`${(p.total / n).toFixed(0)} ms`.padStart(12)}` +
        `   ${(p.total / base.p.total).toFixed(2)}x for ${(n / base.n).toFixed(1)}x hosts`,
    );
  }
  console.log(
    `  tunnels: ${rows.map(({ n, p }) => `N=${n} ${(p.tunnels / (n - 1)).toFixed(0)} ms a tunnel`).join(', ')} (serialised on the hub)`,
  );
  console.log(`  before batching: 20 hosts 21.7 s, 40 hosts 44.7 s; goal: 20 hosts ≤ 5 s`);
} finally {
  await sb.down();
}
