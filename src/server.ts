/** Node entry: config → store → executors → createApp → @hono/node-server (listen.ts). */
import { createApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { serveApp } from './listen.js';
import { createDeps, interruptJobsAtShutdown } from './services.js';
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

/** Resolves true when p settles within ms, false otherwise (p runs on). */
const settlesWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
  ]);

/**
 * SIGTERM/SIGINT: drain, bounded. At once: no new work (mutations and /healthz, /readyz answer 503 `shutting-down`,
 * reads still answered), the reconcile loop and Docker watchers stop. Running jobs get NETPLUMB_SHUTDOWN_GRACE_S
 * (20 s); past it, those still running are closed as interrupted with their records `unknown` (the next start or
 * another replica resolves them) and the process exits. A second signal exits at once. Clean-up (connections, the
 * store) has 2 s of its own.
 */
let stopping = false;
async function shutdown(sig: string) {
  if (stopping) {
    log.warn(`${sig} again: exiting now; unfinished jobs are resolved by the next start or another replica`);
    process.exit(1);
  }
  stopping = true;
  deps.lifecycle.draining = true;
  const graceS = config.shutdownGraceMs / 1000;
  const running = deps.runner.unfinished();
  log.info(`${sig}: draining — no new work; waiting up to ${graceS} s for ${running.length} running job(s) (another signal exits at once)`);
  clearInterval(sweeper);
  reaper?.stop();
  const loopStopped = reconciler?.stop() ?? Promise.resolve();
  if (!(await settlesWithin(Promise.all([deps.runner.drain(), loopStopped]), config.shutdownGraceMs))) {
    const left = deps.runner.unfinished();
    if (left.length) {
      log.warn(
        `${graceS} s passed: ${left.length} job(s) still running (${left.join(', ')}); closing them as interrupted, records unknown`,
      );
      const closed = interruptJobsAtShutdown(deps.store, left, graceS).catch((e: unknown) =>
        log.error(`could not close them (${e instanceof Error ? e.message : String(e)}): the next start or another replica will`),
      );
      await settlesWithin(closed, 2000);
    }
  }
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  const cleanedUp = settlesWithin(
    (async () => {
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
    })(),
    2000,
  );
  if (!(await cleanedUp)) log.warn('clean-up took longer than 2 s: exiting without it');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
