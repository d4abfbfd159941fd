/**
 * Replicas benchmark: requests per second for `GET /bridges` and for creating 200 bridges over 20 hosts, with fake
 * hosts (bench/fake-replica.ts: commands answer at once, so this measures the control plane), on SQLite in one
 * process vs PostgreSQL with 1 and with 3 replicas. Every replica is a child process; the load comes from this
 * process (fetch, BENCH_CONCURRENCY requests in flight, spread round robin over the replicas). PostgreSQL: the
 * server at NETPLUMB_BENCH_PG_URL, else a throwaway local cluster (test/helpers/pg-cluster.ts) with fsync and
 * synchronous commit on (SQLite runs with synchronous=FULL: both stores durable).
 *
 * Each replica reports its event loop's delay (perf_hooks.monitorEventLoopDelay, p99) while it served. A last run puts
 * 2 ms between the replicas and PostgreSQL (a delaying TCP proxy in this process, each direction), as a database in
 * another zone would be: an async store keeps most of its throughput; one that blocked per call would not.
 *
 *   npx tsx bench/replicas.ts            BENCH_BRIDGES=200 BENCH_HOSTS=20 BENCH_GET_S=5 BENCH_CONCURRENCY=20
 */
import { createServer, connect, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { header } from './lib.js';
import { createDatabase, dropDatabase, reachable, startCluster, type PgCluster } from '../test/helpers/pg-cluster.js';
import { startReplica, type Replica } from '../test/helpers/replica-procs.js';
import { PgStore } from '../src/store/postgres.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';

const BRIDGES = Number(process.env.BENCH_BRIDGES ?? 200);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 20);
const GET_S = Number(process.env.BENCH_GET_S ?? 5);
const CONC = Number(process.env.BENCH_CONCURRENCY ?? 20);

async function ok(r: Response, what: string): Promise<void> {
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

/** Runs n requests, CONC at a time, request i to replica i % replicas. */
async function burst(replicas: Replica[], n: number, req: (r: Replica, i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(CONC, n) }, async () => {
      for (let i = next++; i < n; i = next++) await req(replicas[i % replicas.length]!, i);
    }),
  );
  return performance.now() - t;
}

/** A TCP proxy to `target` that holds every chunk `delayMs` in each direction (order kept). Returns its port. */
async function delayingProxy(target: URL, delayMs: number): Promise<{ port: number; server: Server }> {
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const later = (to: NodeJS.WritableStream) => (chunk: Buffer) => void setTimeout(() => to.write(chunk), delayMs);
    client.on('data', later(upstream));
    upstream.on('data', later(client));
    const close = () => {
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, delayMs);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

/** The worst p99 event loop delay the replicas printed at exit (ms). */
function loopP99(outputs: string[]): number {
  return Math.max(...outputs.map((o) => Number(/event loop delay: p50 [\d.]+ ms, p99 ([\d.]+) ms/.exec(o)?.[1] ?? NaN)));
}

async function run(
  label: string,
  db: string,
  n: number,
): Promise<{ label: string; create: number; get: number; p50: number; loopP99: number }> {
  const env = { NETPLUMB_DB: db, NETPLUMB_DEFAULT_WAIT_S: '120', NETPLUMB_PG_POOL: '20' };
  const replicas = await Promise.all(Array.from({ length: n }, (_, i) => startReplica(`b${i + 1}`, env, 'bench/fake-replica.ts')));
  try {
    for (let h = 0; h < HOSTS; h++) {
      await ok(
        await fetch(`${replicas[0]!.url}/hosts`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: `fh${h}`, executor: { kind: 'local' } }),
        }),
        'register host',
      );
    }
    const createMs = await burst(replicas, BRIDGES, async (r, i) =>
      ok(
        await fetch(`${r.url}/bridges`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ host: `fh${i % HOSTS}`, name: `br${i}` }),
        }),
        'create bridge',
      ),
    );
    // GET /bridges (first page of 100) for GET_S seconds.
    const lat: number[] = [];
    const until = performance.now() + GET_S * 1000;
    let count = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CONC }, async (_, k) => {
        for (let i = k; performance.now() < until; i += CONC) {
          const s = performance.now();
          await ok(await fetch(`${replicas[i % n]!.url}/bridges?limit=100`), 'list bridges');
          lat.push(performance.now() - s);
          count++;
        }
      }),
    );
    const getMs = performance.now() - t;
    lat.sort((a, b) => a - b);
    await Promise.all(replicas.map((r) => r.stop()));
    return {
      label,
      create: BRIDGES / (createMs / 1000),
      get: count / (getMs / 1000),
      p50: lat[Math.floor(lat.length / 2)]!,
      loopP99: loopP99(replicas.map((r) => r.output())),
    };
  } catch (e) {
    for (const r of replicas) console.error(`--- ${r.id}\n${r.output().slice(-3000)}`);
    throw e;
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

header(`replicas: ${BRIDGES} bridges over ${HOSTS} fake hosts, then GET /bridges for ${GET_S} s; ${CONC} requests in flight`);
let cluster: PgCluster | null = null;
let pgUrl = process.env.NETPLUMB_BENCH_PG_URL;
if (!pgUrl || !(await reachable(pgUrl))) {
  // fsync on, as SQLite's synchronous=FULL: the comparison is between two durable stores.
  cluster = await startCluster({ durable: true });
  pgUrl = cluster.url;
}
const dir = mkdtempSync(path.join(tmpdir(), 'netplumb-bench-'));
const rows: Awaited<ReturnType<typeof run>>[] = [];
const blocking: [string, number][] = [];
/** Median time of one store call, awaited (a round trip to PostgreSQL; the event loop is free meanwhile). */
async function perCall(s: Store): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const a = performance.now();
    await s.getResource('br_nothing');
    t.push(performance.now() - a);
  }
  t.sort((a, b) => a - b);
  await s.close();
  return t[1000]!;
}
try {
  blocking.push(['SQLite (file)', await perCall(new SqliteStore(path.join(dir, 'probe.db')))]);
  const probeDb = await createDatabase(pgUrl, 'probe');
  blocking.push(['PostgreSQL (loopback, pool)', await perCall(await PgStore.open({ url: probeDb }))]);
  await dropDatabase(probeDb);
  rows.push(await run('SQLite, 1 process', path.join(dir, 'bench.db'), 1));
  for (const n of [1, 3]) {
    const db = await createDatabase(pgUrl, `bench${n}`);
    try {
      rows.push(await run(`PostgreSQL, ${n} replica${n > 1 ? 's' : ''}`, db, n));
    } finally {
      await dropDatabase(db);
    }
  }
  // The same three replicas with the database 2 ms away (each direction).
  const far = await createDatabase(pgUrl, 'benchfar');
  const proxy = await delayingProxy(new URL(far), 2);
  try {
    const viaProxy = new URL(far);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    rows.push(await run('PostgreSQL, 3 replicas, +2 ms', viaProxy.toString(), 3));
  } finally {
    proxy.server.close();
    await dropDatabase(far);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
}
console.log('');
console.log('One store call, awaited (median of 2000 getResource calls, same process; the event loop is not blocked):');
for (const [label, ms] of blocking) console.log(`  ${label}: ${ms.toFixed(3)} ms`);
console.log('');
console.log('| store | create bridges/s | GET /bridges req/s | GET p50 | event loop delay p99 (worst replica) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows)
  console.log(`| ${r.label} | ${r.create.toFixed(1)} | ${r.get.toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.loopP99.toFixed(2)} ms |`);
const by = (label: string) => rows.find((r) => r.label === label)!;
const sqlite = by('SQLite, 1 process');
const pg1 = by('PostgreSQL, 1 replica');
const pg3 = by('PostgreSQL, 3 replicas');
const far3 = by('PostgreSQL, 3 replicas, +2 ms');
console.log('');
console.log(`one PostgreSQL replica / SQLite, bridges created per second: ${(pg1.create / sqlite.create).toFixed(2)}  (goal ≥ 0.8)`);
console.log(
  `3 replicas with the database 2 ms away / on loopback: create ${(far3.create / pg3.create).toFixed(2)}, GET ${(far3.get / pg3.get).toFixed(2)}  (goal ≥ 0.5)`,
);
console.log(`worst event loop delay p99: ${Math.max(...rows.map((r) => r.loopP99)).toFixed(2)} ms  (goal ≤ 5 ms)`);
