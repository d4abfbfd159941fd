/** Node entry: config → store → executors → createApp → @hono/node-server (listen.ts). */
import { createApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { serveApp } from './listen.js';
import { createDeps } from './services.js';
import { describeDb, openStore, startRecovery, type OpenedStore } from './replicas.js';
import type { LeaseReaper } from './jobs/lease-recovery.js';
import { startLeadingReconciler } from './reconcile/loop.js';
import { exitAtStartup, listenFailure } from './startup.js';
import { createObservability } from './observability/index.js';
import { Redactor } from './redact.js';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  exitAtStartup('config', 'cannot start', e);
}
// The service log (JSON lines on stdout; readable on a terminal), metrics and traces: docs/observability.md.
const obs = createObservability({
  logLevel: config.logLevel,
  otlpEndpoint: config.otlpEndpoint,
  processMetrics: true,
  redactor: new Redactor(),
});
const log = obs.logger;

// The last net, not the mechanism: store faults are handled where they happen. Log loudly and keep serving.
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'UNHANDLED REJECTION (a bug; the service keeps running)');
});

let opened: OpenedStore;
try {
  opened = await openStore({
    db: config.dbPath,
    leaseMs: config.leaseMs,
    replicaId: config.replicaId,
    poolMax: config.pgPoolMax,
    log: (m) => log.warn({ component: 'replicas' }, m),
  });
} catch (e) {
  exitAtStartup(
    'database',
    `cannot open or update the database ${describeDb(config.dbPath)} (free space or fix permissions, then start again)`,
    e,
  );
}
const deps = await createDeps(opened.store, config, undefined, opened.coordination, obs);
let reaper: LeaseReaper | null = null;
try {
  const r = await startRecovery(opened, deps.store, obs);
  reaper = r.reaper;
  if (r.interrupted.length) log.warn({ jobs: r.interrupted }, `marked ${r.interrupted.length} job(s) left running as interrupted`);
} catch (e) {
  exitAtStartup('database', `cannot recover the jobs left running in ${describeDb(config.dbPath)}`, e);
}
// Idempotency keys expire (24 h by default): sweep at start-up and hourly. A failing store only delays it.
const sweep = async () => {
  try {
    await deps.store.deleteExpiredIdempotency(new Date().toISOString());
  } catch (e) {
    log.error(`idempotency sweep skipped: ${e instanceof Error ? e.message : String(e)}`);
  }
};
void sweep();
const sweeper = setInterval(() => void sweep(), 3600_000).unref();
const app = createApp(deps);
// Hosts whose dockerd has netplumb networks get the plugin's socket back (forwarded again over SSH).
void deps.plugin?.serveKnownHosts();
// Hosts converge back by themselves: failed hosts re-probed, unknown outcomes resolved, drift repaired, containers re-attached.
const reconciler = config.reconcile.enabled ? startLeadingReconciler(deps, { intervalMs: config.reconcile.intervalMs }) : null;

const server = serveApp(app, { port: config.port, hostname: config.host }, (info) => {
  log.info({ db: describeDb(config.dbPath) }, `netplumb listening on http://${config.host}:${info.port} (db ${describeDb(config.dbPath)})`);
  if (opened.kind === 'postgres') log.info(`replica ${opened.replicaId} (job lease ${opened.leaseMs! / 1000} s)`);
  if (!config.token) log.warn('no NETPLUMB_TOKEN set: authentication is off, so the service listens on loopback only');
  if (!config.keyDir) log.warn('no NETPLUMB_KEY_DIR set: SSH privateKeyPath may name any file this service can read');
  if (!config.secretKey) log.info('no NETPLUMB_SECRET_KEY set: inline SSH private keys are refused (privateKeyPath still works)');
  if (config.otlpEndpoint) log.info(`traces exported to ${config.otlpEndpoint} (OTLP/HTTP)`);
  log.info(
    reconciler
      ? `reconcile loop on (every ${config.reconcile.intervalMs / 1000} s, after reconnects and reboots, and on Docker container events)`
      : 'reconcile loop off (NETPLUMB_RECONCILE=off)',
  );
});

server.on('error', (e: NodeJS.ErrnoException) => {
  if (server.listening) log.error(`server error: ${e.message}`);
  else exitAtStartup('listen', listenFailure(e, config.host, config.port));
});

let stopping = false;
async function shutdown(sig: string) {
  if (stopping) return;
  stopping = true;
  log.info(`${sig}: stopping (waiting for running jobs)`);
  server.close();
  clearInterval(sweeper);
  reaper?.stop();
  await reconciler?.stop();
  await deps.runner.drain();
  deps.plugin?.close();
  await deps.hosts.closeAll();
  if (!(await deps.storage.flush())) {
    const lost = deps.storage
      .pendingJobs()
      .map((j) => `${j.id} (${j.status})`)
      .join(', ');
    log.error(
      `the store still cannot write: the outcome of ${lost || 'some jobs'} is lost; they will show as interrupted at the next start`,
    );
  }
  await deps.storage.close();
  await opened.coordination.close();
  await obs.close().catch(() => {});
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
