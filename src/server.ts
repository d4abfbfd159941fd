/** Node entry: config → store → executors → createApp → @hono/node-server. */
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { createDeps, recoverInterruptedJobs } from './services.js';
import { SqliteStore } from './store/sqlite.js';

const config = loadConfig();
const store = new SqliteStore(config.dbPath);
const interrupted = recoverInterruptedJobs(store);
if (interrupted.length) console.log(`marked ${interrupted.length} job(s) left running as interrupted: ${interrupted.join(', ')}`);
const deps = createDeps(store, config);
// Idempotency keys expire (24 h by default): sweep at start-up and hourly.
const sweep = () => store.deleteExpiredIdempotency(new Date().toISOString());
sweep();
const sweeper = setInterval(sweep, 3600_000).unref();
const app = createApp(deps);

const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
  console.log(`netplumb listening on http://${config.host}:${info.port} (db ${config.dbPath})`);
  if (!config.token) console.log('no NETPLUMB_TOKEN set: authentication is off, so the service listens on loopback only');
  if (!config.keyDir) console.log('no NETPLUMB_KEY_DIR set: SSH privateKeyPath may name any file this service can read');
});

let stopping = false;
async function shutdown(sig: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${sig}: stopping (waiting for running jobs)`);
  server.close();
  clearInterval(sweeper);
  await deps.runner.drain();
  await deps.hosts.closeAll();
  store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
