/**
 * A service replica whose hosts are fake (test/helpers/fake-host.ts: every command answers at once), for the
 * replicas benchmark: what is measured is the control plane (HTTP, store, locks, leases), not the hosts. The store
 * is chosen by NETPLUMB_DB as in src/server.ts; prints "listening on http://…" when ready.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { serveApp } from '../src/listen.js';
import { openStore, startRecovery } from '../src/replicas.js';
import { createDeps } from '../src/services.js';
import { FakeWorld } from '../test/helpers/fake-host.js';

const config = loadConfig();
const opened = await openStore({ db: config.dbPath, leaseMs: config.leaseMs, replicaId: config.replicaId, poolMax: config.pgPoolMax });
const deps = await createDeps(opened.store, config, new FakeWorld().factory(), opened.coordination);
const { reaper } = await startRecovery(opened, deps.store, deps.obs);
// How late the event loop runs its callbacks while serving (printed at exit for the bench): a store that blocked the
// loop (the old synchronous PostgreSQL bridge did, one round trip per call) shows here.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
const server = serveApp(createApp(deps), { port: config.port, hostname: config.host }, (info) => {
  loopDelay.enable();
  console.log(`fake replica ${config.replicaId ?? ''} listening on http://${config.host}:${info.port} (${opened.kind})`);
});
process.on('SIGTERM', () => {
  loopDelay.disable();
  console.log(
    `event loop delay: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(2)} ms`,
  );
  server.close();
  reaper?.stop();
  void deps.runner
    .drain()
    .then(() => opened.coordination.close())
    .finally(async () => {
      await deps.storage.close();
      process.exit(0);
    });
});
