/**
 * Benchmark 3 (`npm run bench -- seed`, or `npx tsx bench/seed.ts`): the seed scenario end to end through the API
 * with sequential SDK calls, as sdk/examples/seed.ts does it: docker1 (10.10.10.101/24) and docker3
 * (192.168.50.101/24) registered, `ovs_bridge` on each (10.11.12.1/24, .2/24), a GRE tunnel, web1 and web2 attached
 * with 10.11.12.100/24 and .200/24. Wall time with host registration (a fresh service: new store, no connections)
 * and without (the same service, hosts registered, connections open), median of BENCH_RUNS (default 5) each; the
 * network is torn down between runs with DELETE /bridges/{id}?cascade=true. Goal ≤ 0.5 s. Checked once that curl
 * from web1's namespace to http://10.11.12.200 answers "Web Server #2". Sandbox prefix `bks`.
 */
import { down, SEED_HOSTS, up, type Sandbox } from '../test/testbed/sandbox.js';
import type { NetplumbClient } from '../sdk/src/index.js';
import { explain, header, median, ms, sleep, sshHostBody, startService } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PREFIX = 'bks';

type Split = Record<string, number>;

async function timed(split: Split, name: string, fn: () => Promise<unknown>): Promise<void> {
  const t = performance.now();
  await fn();
  split[name] = performance.now() - t;
}

/** The network (hosts already registered); returns the bridge ids for the teardown. */
async function build(np: NetplumbClient, split: Split): Promise<string[]> {
  const ids: string[] = [];
  const e = (err: unknown) => explain(np, err);
  await timed(split, 'bridge docker1', async () =>
    ids.push((await np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] }).catch(e)).id),
  );
  await timed(split, 'bridge docker3', async () =>
    ids.push((await np.bridges.create({ host: 'docker3', name: 'ovs_bridge', addresses: ['10.11.12.2/24'] }).catch(e)).id),
  );
  await timed(split, 'gre tunnel', () =>
    np.tunnels.create({ type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] }).catch(e),
  );
  await timed(split, 'attach web1', () =>
    np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] }).catch(e),
  );
  await timed(split, 'attach web2', () =>
    np.attachments.create({ bridge: 'docker3/ovs_bridge', target: { container: 'web2' }, addresses: ['10.11.12.200/24'] }).catch(e),
  );
  return ids;
}

async function register(np: NetplumbClient, sb: Sandbox, split: Split): Promise<void> {
  for (const h of ['docker1', 'docker3'])
    await timed(split, `register ${h}`, () => np.hosts.create(sshHostBody(sb, h)).catch((e) => explain(np, e)));
}

/** curl from web1's namespace through the tunnel; a few tries (a neighbour entry may still be settling). */
async function verify(sb: Sandbox, web1Pid: number, what: string): Promise<void> {
  let out = '';
  for (let i = 0; i < 5; i++) {
    const r = await sb.exec('docker1', ['nsenter', '-t', String(web1Pid), '-n', 'curl', '-s', '-m', '3', 'http://10.11.12.200']);
    out = r.stdout + r.stderr;
    if (out.includes('Web Server #2')) {
      console.log(`  checked (${what}): curl from web1 to http://10.11.12.200 answers "Web Server #2"${i ? ` (after ${i} retries)` : ''}`);
      return;
    }
    await sleep(1000);
  }
  throw new Error(`${what}: curl from web1 to http://10.11.12.200 did not answer "Web Server #2": ${JSON.stringify(out.slice(0, 300))}`);
}

header('the seed scenario end to end through the API');
await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: SEED_HOSTS });
try {
  const web1Pid = await sb.startWeb('docker1', 'web1', 1);
  await sb.startWeb('docker3', 'web2', 2);
  const full: number[] = [];
  const warm: number[] = [];
  const splits: Split[] = [];
  for (let r = 0; r < RUNS; r++) {
    const svc = await startService();
    try {
      const { np } = svc;
      const split: Split = {};
      let ids: string[] = [];
      let t = performance.now();
      await register(np, sb, split);
      ids = await build(np, split);
      full.push(performance.now() - t);
      splits.push(split);
      if (r === 0) await verify(sb, web1Pid, 'with registration');
      for (const id of ids) await np.bridges.delete(id, { cascade: true }).catch((e) => explain(np, e));

      t = performance.now();
      ids = await build(np, {});
      warm.push(performance.now() - t);
      if (r === 0) await verify(sb, web1Pid, 'hosts already registered');
      for (const id of ids) await np.bridges.delete(id, { cascade: true }).catch((e) => explain(np, e));
    } finally {
      await svc.close();
    }
  }
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`seed scenario, sequential SDK calls (median of ${RUNS} runs each; a fresh service per run):`);
  console.log(`  with host registration (2 hosts, 2 bridges, GRE tunnel, 2 attachments): ${ms(median(full))}   [${list(full)}] ms`);
  console.log(
    `  hosts already registered (2 bridges, GRE tunnel, 2 attachments):       ${ms(median(warm))}   [${list(warm)}] ms   (goal ≤ 500 ms)`,
  );
  console.log(`  registration's share: ${ms(median(full) - median(warm))}`);
  console.log(
    `  calls with registration (median of ${splits.length}): ${Object.keys(splits[0]!)
      .map((k) => `${k} ${median(splits.map((s) => s[k]!)).toFixed(0)}`)
      .join(', ')} ms`,
  );
} finally {
  await sb.down();
}
