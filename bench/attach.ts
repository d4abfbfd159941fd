/**
 * Benchmark 1 (`npm run bench -- attach`, or `npx tsx bench/attach.ts`): median time to attach one running
 * container to an OVS bridge through the API on an SSH sandbox host, next to the floor — the same work typed into
 * the host's own shell (TESTBED.md: docker inspect for the pid, ip link add … netns, address + up + ethtool inside,
 * ovs-vsctl add-port, up). Goal: ratio ≤ 1.2 (it was 2.6 before batching). API and floor runs are interleaved so
 * drift on the shared machine hits both alike. BENCH_N (default 10) runs each. Sandbox prefix `bka`.
 *
 * Then the cost of observability (issue 28, goal ≤ 5%): the same attach through a second service with everything on —
 * info log lines serialized (to a counting sink), spans exported over OTLP/HTTP to a receiver on loopback, /metrics
 * scraped every second — against the first one (logs off, no exporter, nothing scraped; its metrics are still
 * counted: they cannot be turned off), interleaved, alternating which goes first.
 */
import { down, up } from '../test/testbed/sandbox.js';
import { attachVsFloor, explain, header, jobStepTime, median, ms, sshHostBody, startContainers, startService, time } from './lib.js';
import { hostExecutor } from '../src/services.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createObservability } from '../src/observability/index.js';

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

  const ssh = await hostExecutor(svc.deps, HOST);
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

  await observabilityOnVsOff();
} finally {
  await svc.close();
  await sb.down();
}

/** Attaches through the service above (observability off) and through one with metrics, logs and traces on. */
async function observabilityOnVsOff(): Promise<void> {
  let spans = 0;
  let exports = 0;
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      exports++;
      spans += (body.match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  let logBytes = 0;
  let logLines = 0;
  const obs = createObservability({
    logLevel: 'info',
    logOut: {
      write: (l: string) => {
        logBytes += l.length;
        logLines++;
      },
    },
    otlpEndpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
  });
  const on = await startService({ obs });
  let scrapes = 0;
  const scraper = setInterval(() => {
    void fetch(`${on.baseUrl}/metrics`)
      .then((r) => r.text())
      .then(() => scrapes++);
  }, 1000);
  try {
    await on.np.hosts.create(sshHostBody(sb, HOST)).catch((e) => explain(on.np, e));
    await on.np.bridges.create({ host: HOST, name: 'ovs_obs', addresses: ['10.11.14.1/24'] }).catch((e) => explain(on.np, e));
    await startContainers(sb, HOST, 'o', 2 * N + 2);
    const attach = (s: typeof svc, bridge: string, c: string, cidr: string) =>
      time(async () => {
        await s.np.attachments
          .create({ bridge: `${HOST}/${bridge}`, target: { container: c }, addresses: [cidr] })
          .catch((e) => explain(s.np, e));
      });
    // Warm-up: each service's SSH connection, shell sessions and Docker stream.
    await attach(svc, 'ovs_bridge', `o${2 * N}`, '10.11.16.250/24');
    await attach(on, 'ovs_obs', `o${2 * N + 1}`, '10.11.14.250/24');
    const offMs: number[] = [];
    const onMs: number[] = [];
    for (let i = 0; i < N; i++) {
      const off = () => attach(svc, 'ovs_bridge', `o${2 * i}`, `10.11.16.${10 + i}/24`).then((t) => offMs.push(t));
      const with_ = () => attach(on, 'ovs_obs', `o${2 * i + 1}`, `10.11.14.${10 + i}/24`).then((t) => onMs.push(t));
      if (i % 2) await with_().then(off);
      else await off().then(with_);
    }
    await obs.tracer.flush();
    const a = median(offMs);
    const b = median(onMs);
    console.log(`observability on vs off (attach one container, median of ${N} runs each, interleaved):`);
    console.log(
      `  off (logs off, no span export, no scrape):                      ${ms(a)}   samples ${offMs.map((x) => x.toFixed(0)).join(' ')} ms`,
    );
    console.log(
      `  on  (info logs, OTLP export, /metrics scraped every second):    ${ms(b)}   samples ${onMs.map((x) => x.toFixed(0)).join(' ')} ms`,
    );
    console.log(`  ratio on / off: ${(b / a).toFixed(3)}   (goal ≤ 1.05; ${(((b - a) / a) * 100).toFixed(1)}% apart)`);
    console.log(`  meanwhile: ${logLines} log lines (${logBytes} bytes), ${spans} spans in ${exports} OTLP requests, ${scrapes} scrapes`);
  } finally {
    clearInterval(scraper);
    await on.close();
    await obs.close();
    await new Promise<void>((r) => receiver.close(() => r()));
  }
}
