/** Node entry: config → store → executors → createApp → @hono/node-server (listen.ts). */
import { createApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { serveApp } from './listen.js';
import { createDeps } from './services.js';
import { describeDb, openStore, startRecovery, type OpenedStore } from './replicas.js';
import type { LeaseReaper } from './jobs/lease-recovery.js';
import { startLeadingReconciler } from './reconcile/loop.js';
import { exitAtStartup, listenFailure } from './startup.js';

// The last net, not the mechanism: store faults are handled where they happen. Log loudly and keep serving.
process.on('unhandledRejection', (reason) => {
  console.error('netplumb: UNHANDLED REJECTION (a bug; the service keeps running):', reason);
});

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  exitAtStartup('config', 'cannot start', e);
}
let opened: OpenedStore;
try {
  opened = openStore({ db: config.dbPath, leaseMs: config.leaseMs, replicaId: config.replicaId, poolMax: config.pgPoolMax });
} catch (e) {
  exitAtStartup(
    'database',
    `cannot open or update the database ${describeDb(config.dbPath)} (free space or fix permissions, then start again)`,
    e,
  );
}
const deps = createDeps(opened.store, config, undefined, opened.coordination);
let reaper: LeaseReaper | null = null;
try {
  const r = startRecovery(opened, deps.store);
  reaper = r.reaper;
  if (r.interrupted.length) console.log(`marked ${r.interrupted.length} job(s) left running as interrupted: ${r.interrupted.join(', ')}`);
} catch (e) {
  exitAtStartup('database', `cannot recover the jobs left running in ${describeDb(config.dbPath)}`, e);
}
// Idempotency keys expire (24 h by default): sweep at start-up and hourly. A failing store only delays it.
const sweep = () => {
  try {
    deps.store.deleteExpiredIdempotency(new Date().toISOString());
  } catch (e) {
    console.error(`netplumb: idempotency sweep skipped: ${e instanceof Error ? e.message : String(e)}`);
  }
};
sweep();
const sweeper = setInterval(sweep, 3600_000).unref();
const app = createApp(deps);
// Hosts converge back by themselves: failed hosts re-probed, unknown outcomes resolved, drift repaired, containers re-attached.
const reconciler = config.reconcile.enabled ? startLeadingReconciler(deps, { intervalMs: config.reconcile.intervalMs }) : null;

const server = serveApp(app, { port: config.port, hostname: config.host }, (info) => {
  console.log(`netplumb listening on http://${config.host}:${info.port} (db ${describeDb(config.dbPath)})`);
  if (opened.kind === 'postgres') console.log(`replica ${opened.replicaId} (job lease ${opened.leaseMs! / 1000} s)`);
  if (!config.token) console.log('no NETPLUMB_TOKEN set: authentication is off, so the service listens on loopback only');
  if (!config.keyDir) console.log('no NETPLUMB_KEY_DIR set: SSH privateKeyPath may name any file this service can read');
  if (!config.secretKey) console.log('no NETPLUMB_SECRET_KEY set: inline SSH private keys are refused (privateKeyPath still works)');
  console.log(
    reconciler
      ? `reconcile loop on (every ${config.reconcile.intervalMs / 1000} s, after reconnects and reboots, and on Docker container events)`
      : 'reconcile loop off (NETPLUMB_RECONCILE=off)',
  );
});

server.on('error', (e: NodeJS.ErrnoException) => {
  if (server.listening) console.error(`netplumb: server error: ${e.message}`);
  else exitAtStartup('listen', listenFailure(e, config.host, config.port));
});

let stopping = false;
async function shutdown(sig: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${sig}: stopping (waiting for running jobs)`);
  server.close();
  clearInterval(sweeper);
  reaper?.stop();
  await reconciler?.stop();
  await deps.runner.drain();
  await deps.hosts.closeAll();
  if (!deps.storage.flush()) {
    const lost = deps.storage
      .pendingJobs()
      .map((j) => `${j.id} (${j.status})`)
      .join(', ');
    console.error(
      `netplumb: the store still cannot write: the outcome of ${lost || 'some jobs'} is lost; they will show as interrupted at the next start`,
    );
  }
  deps.storage.close();
  await opened.coordination.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
