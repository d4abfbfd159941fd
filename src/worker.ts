/**
 * Worker entry (`node dist/worker.mjs`): runs the jobs serverless functions queued (src/lambda.ts), on the PostgreSQL
 * store the functions use. Long-lived, beside or instead of service replicas; several workers share the queue.
 * Also closes jobs whose replica or function died (the lease sweep), as every replica does, and runs the reconcile
 * loop (NETPLUMB_RECONCILE), which functions cannot.
 */
import { loadConfig, type Config } from './config.js';
import { describeDb, isPostgresUrl, openStore, startRecovery, type OpenedStore } from './replicas.js';
import { createDeps } from './services.js';
import { exitAtStartup } from './startup.js';
import { runQueuedJobs } from './worker-loop.js';
import { startLeadingReconciler } from './reconcile/loop.js';
import { createObservability } from './observability/index.js';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  exitAtStartup('config', 'cannot start', e);
}
if (!isPostgresUrl(config.dbPath)) {
  exitAtStartup('config', 'cannot start: the worker needs NETPLUMB_DB=postgres://… (the store the functions queue jobs in)');
}
const obs = createObservability({ logLevel: config.logLevel, otlpEndpoint: config.otlpEndpoint, processMetrics: true });
const log = obs.logger.child({ component: 'worker' });
let opened: OpenedStore;
try {
  opened = await openStore({
    db: config.dbPath,
    leaseMs: config.leaseMs,
    replicaId: config.replicaId,
    poolMax: config.pgPoolMax,
    log: (m) => log.warn(m),
  });
} catch (e) {
  exitAtStartup('database', `cannot open the database ${describeDb(config.dbPath)}`, e);
}
const deps = await createDeps(opened.store, config, undefined, opened.coordination, obs);
const { reaper } = await startRecovery(opened, deps.store, obs);
// Functions do not live long enough to watch hosts: the worker keeps them converged (docs/self-healing.md).
const reconciler = config.reconcile.enabled ? startLeadingReconciler(deps, { intervalMs: config.reconcile.intervalMs }) : null;
log.info(`netplumb worker ${opened.replicaId} on ${describeDb(config.dbPath)} (job lease ${(opened.leaseMs ?? 0) / 1000} s)`);

let stopping = false;
const loop = runQueuedJobs(deps, { shouldStop: () => stopping, log: (l) => log.info(l) });

async function shutdown(sig: string) {
  if (stopping) return;
  stopping = true;
  log.info(`${sig}: stopping (waiting for running jobs)`);
  reaper?.stop();
  await reconciler?.stop();
  await loop.catch((e: Error) => log.error(e.message));
  await deps.runner.drain();
  await deps.hosts.closeAll();
  await deps.storage.close();
  await opened.coordination.close();
  await obs.close().catch(() => {});
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
loop.catch((e: Error) => {
  log.fatal(e.message);
  process.exit(1);
});
