/** Environment → typed config, with defaults that just work locally. */
import { z } from 'zod';

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  NETPLUMB_TOKEN: z.string().min(16, 'NETPLUMB_TOKEN must be at least 16 characters').optional(),
  NETPLUMB_DB: z.string().min(1).default('./data/netplumb.db'),
  NETPLUMB_IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  NETPLUMB_DEFAULT_WAIT_S: z.coerce.number().int().min(0).max(600).default(30),
  NETPLUMB_KEY_DIR: z.string().startsWith('/', 'NETPLUMB_KEY_DIR must be an absolute path').optional(),
});

export interface Config {
  port: number;
  host: string;
  token: string | undefined;
  dbPath: string;
  idempotencyTtlMs: number;
  defaultWaitMs: number;
  maxBodyBytes: number;
  /** When set, SSH `privateKeyPath`s must lie inside this directory. */
  keyDir: string | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = Env.safeParse(env);
  if (!r.success) {
    throw new Error('bad configuration: ' + r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const e = r.data;
  if (!e.NETPLUMB_TOKEN && !LOOPBACK.has(e.HOST)) {
    throw new Error(`refusing to listen on ${e.HOST} without NETPLUMB_TOKEN: set a token, or keep HOST=127.0.0.1`);
  }
  return {
    port: e.PORT,
    host: e.HOST,
    token: e.NETPLUMB_TOKEN,
    dbPath: e.NETPLUMB_DB,
    idempotencyTtlMs: e.NETPLUMB_IDEMPOTENCY_TTL_HOURS * 3600_000,
    defaultWaitMs: e.NETPLUMB_DEFAULT_WAIT_S * 1000,
    maxBodyBytes: 1024 * 1024,
    keyDir: e.NETPLUMB_KEY_DIR,
  };
}
