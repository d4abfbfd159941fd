/**
 * The hang hunt (issue 33): 100 concurrent `POST /attachments` on one host, over and over on the same containers
 * (`npx tsx bench/attach-loop.ts`; BENCH_LOOPS rounds, default 10; BENCH_CONTAINERS, default 100). A watchdog stops a
 * round where nothing finished for BENCH_STALL_S (default 60 s), prints what every unfinished job waits for and each
 * host's channels, shell sessions and Docker streams, and the script exits 3. Sandbox prefix `bkl`.
 */
import { down, up } from '../test/testbed/sandbox.js';
import { describeStall, explain, header, sec, sshHostBody, startContainers, startService, time, watchdog } from './lib.js';

const LOOPS = Number(process.env.BENCH_LOOPS ?? 10);
const N = Number(process.env.BENCH_CONTAINERS ?? 100);
const PREFIX = 'bkl';
const HOST = 'docker1';
const cidr = (i: number) => `10.11.${12 + Math.floor((10 + i) / 250)}.${(10 + i) % 250}/16`;

header(`hang hunt: ${LOOPS} rounds of ${N} concurrent POST /attachments on one host, with a watchdog`);
await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }] });
const svc = await startService().catch(async (e) => {
  await sb.down();
  throw e;
});
let stalled = false;
try {
  const { np } = svc;
  await np.hosts.create(sshHostBody(sb, HOST)).catch((e) => explain(np, e));
  await startContainers(sb, HOST, 'm', N);
  for (let r = 0; r < LOOPS; r++) {
    const bridge = await np.bridges.create({ host: HOST, name: 'ovs_bridge', addresses: ['10.11.0.1/16'] }).catch((e) => explain(np, e));
    const dog = watchdog(svc);
    console.log(`round ${r + 1} starts:\n${await describeStall(svc)}`);
    let failed = 0;
    try {
      const ms = await time(() =>
        dog.guard(
          Promise.all(
            Array.from({ length: N }, async (_, i) => {
              try {
                await np.attachments.create({ bridge: bridge.id, target: { container: `m${i}` }, addresses: [cidr(i)] });
              } catch (e) {
                if (++failed === 1) console.log(`  round ${r + 1}: first failure, state now:\n${await describeStall(svc)}`);
                if (failed <= 5) console.log(`  round ${r + 1}: m${i}: ${e instanceof Error ? e.message : String(e)}`);
              }
              dog.progress();
            }),
          ),
        ),
      );
      console.log(`round ${r + 1}: ${N} attachments in ${sec(ms)}${failed ? `, ${failed} failed` : ''}`);
    } finally {
      dog.stop();
    }
    await np.bridges.delete(bridge.id, { cascade: true }).catch((e) => explain(np, e));
  }
} catch (e) {
  stalled = /stalled/.test(String(e));
  console.log(`!! ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = stalled ? 3 : 1;
} finally {
  await svc.close().catch(() => undefined);
  await sb.down();
}
