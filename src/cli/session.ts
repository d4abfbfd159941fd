/**
 * Where the CLI's requests go: a running service (--server / NETPLUMB_URL, token NETPLUMB_TOKEN), or the service
 * embedded in this process on a SQLite file in a state directory (--state DIR): the same app, called through
 * its fetch handler, so no port is opened and nothing keeps running after the command.
 */
import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createClient, NetplumbError, type NetplumbClient } from '../../sdk/src/index.js';
import { createApp } from '../app.js';
import { loadSecretKey } from '../secrets.js';
import { createDeps, recoverInterruptedJobs } from '../services.js';
import { SqliteStore } from '../store/sqlite.js';
import { CliError, EXIT } from './args.js';

export interface Session {
  np: NetplumbClient;
  /** what to call it in messages */
  where: string;
  close(): Promise<void>;
}

export const DB_FILE = 'netplumb.db';

/**
 * NETPLUMB_RETRIES: how often a request is tried again after a network error or a 429/503 (after its Retry-After, up
 * to 30 s); the SDK's default (3) when unset, 0 to fail at once.
 */
export function retriesOf(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.NETPLUMB_RETRIES;
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,2}$/.test(v)) throw new CliError(`NETPLUMB_RETRIES must be a number of retries, 0-99 (not "${v}")`, EXIT.usage);
  return Number(v);
}

export function serviceSession(server: string | undefined, env: NodeJS.ProcessEnv): Session {
  const baseUrl = (server ?? env.NETPLUMB_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(baseUrl)) throw new CliError(`--server/NETPLUMB_URL must be an http(s) URL (not "${baseUrl}")`, EXIT.usage);
  return {
    np: createClient({ baseUrl, token: env.NETPLUMB_TOKEN || undefined, retries: retriesOf(env) }),
    where: baseUrl,
    close: async () => {},
  };
}

/** create: make the directory and database (up); otherwise the state must exist (every other command). */
export async function embeddedSession(dir: string, env: NodeJS.ProcessEnv, o: { create: boolean }): Promise<Session> {
  const dbPath = path.join(dir, DB_FILE);
  if (!o.create && !existsSync(dbPath))
    throw new CliError(`no netplumb state in ${dir} (run netplumb up --state ${dir} first)`, EXIT.usage);
  mkdirSync(dir, { recursive: true });
  let secretKey: Buffer | undefined;
  try {
    secretKey = loadSecretKey(env);
  } catch (e) {
    throw new CliError(`bad configuration: ${(e as Error).message}`, EXIT.usage);
  }
  const store = new SqliteStore(dbPath);
  await recoverInterruptedJobs(store);
  const deps = await createDeps(store, {
    defaultWaitMs: 60_000,
    idempotencyTtlMs: 86_400_000,
    maxBodyBytes: 1 << 20,
    keyDir: env.NETPLUMB_KEY_DIR || undefined,
    secretKey,
  });
  const app = createApp(deps);
  const np = createClient({
    baseUrl: 'http://localhost',
    fetch: async (input, init) => app.fetch(input instanceof Request && !init ? input : new Request(input, init)),
  });
  return {
    np,
    where: `the embedded service (${dbPath})`,
    async close() {
      await deps.runner.drain();
      await deps.hosts.closeAll();
      await store.close();
    },
  };
}

/** The database files of a state directory (and the directory, when nothing else is in it). */
export function removeState(dir: string): void {
  for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) rmSync(path.join(dir, f), { force: true });
  try {
    rmdirSync(dir);
  } catch {
    // not empty (the user's files): leave it
  }
}

/** A NetplumbError from a raw openapi-fetch answer (the SDK's helpers do the same inside). */
export function problemError(res: Response, error: unknown): NetplumbError {
  return NetplumbError.fromResponse(res, error);
}
