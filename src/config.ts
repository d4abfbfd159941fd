/** Environment → typed config, with defaults that just work locally. */
import { z } from 'zod';
import { splitHost } from './api/origin-guard.js';
import { loadSecretKey } from './secrets.js';
import { OidcIssuerSchema, type OidcIssuer } from './model/principals.js';
import { LOG_LEVELS, type LogLevel } from './observability/logger.js';

/** A comma-separated list; empty entries are ignored. */
const list = (what: string, valid: (s: string) => boolean) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      const items = (s ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      for (const i of items) if (!valid(i)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(i)} is not ${what}` });
      return items;
    });
const isOrigin = (o: string) => {
  try {
    const u = new URL(o);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o.toLowerCase().replace(/\/$/, '');
  } catch {
    return false;
  }
};

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  NETPLUMB_TOKEN: z.string().min(16, 'NETPLUMB_TOKEN must be at least 16 characters').optional(),
  NETPLUMB_DB: z.string().min(1).default('./data/netplumb.db'),
  NETPLUMB_IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  NETPLUMB_DEFAULT_WAIT_S: z.coerce.number().int().min(0).max(600).default(30),
  NETPLUMB_KEY_DIR: z.string().startsWith('/', 'NETPLUMB_KEY_DIR must be an absolute path').optional(),
  NETPLUMB_ALLOWED_HOSTS: list('a host name or address with an optional :port', (h) => splitHost(h) !== null),
  NETPLUMB_CORS_ORIGINS: list('an origin like https://ui.example:8443', isOrigin),
  // Replicas on PostgreSQL (NETPLUMB_DB=postgres://…): see docs/replicas.md.
  NETPLUMB_LEASE_S: z.coerce.number().positive().max(3600).default(15),
  NETPLUMB_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'NETPLUMB_REPLICA_ID: 1-100 of A-Z a-z 0-9 . _ : -')
    .optional(),
  NETPLUMB_PG_POOL: z.coerce.number().int().min(2).max(200).default(10),
  NETPLUMB_RECONCILE: z.enum(['on', 'off']).default('on'),
  NETPLUMB_LOCK_WAIT_S: z.coerce.number().int().min(1).max(86_400).default(600),
  NETPLUMB_SHUTDOWN_GRACE_S: z.coerce.number().min(0).max(3600).default(20),
  NETPLUMB_RECONCILE_INTERVAL_S: z.coerce.number().int().min(0).max(86_400).default(60),
  // Observability: docs/observability.md.
  NETPLUMB_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  NETPLUMB_METRICS_TOKEN: z.string().min(16, 'NETPLUMB_METRICS_TOKEN must be at least 16 characters').optional(),
  // Principals: docs/security.md. NETPLUMB_OIDC is a JSON array of trusted issuers (OidcIssuerSchema).
  NETPLUMB_OIDC: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s?.trim()) return [];
      let v: unknown;
      try {
        v = JSON.parse(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'NETPLUMB_OIDC must be a JSON array of issuers' });
        return z.NEVER;
      }
      const r = z.array(OidcIssuerSchema).safeParse(v);
      if (!r.success) {
        ctx.addIssue({
          code: 'custom',
          message: `NETPLUMB_OIDC: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        });
        return z.NEVER;
      }
      return r.data;
    }),
  NETPLUMB_RATE_BURST: z.coerce.number().int().min(0).max(1_000_000).default(120),
  NETPLUMB_RATE_PER_S: z.coerce.number().positive().max(1_000_000).default(20),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url('OTEL_EXPORTER_OTLP_ENDPOINT must be a URL like http://collector:4318')
    .refine((u) => /^https?:\/\//i.test(u), 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL')
    .optional(),
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
  /** Host header values served besides the loopback names (see api/origin-guard.ts). */
  allowedHosts: string[];
  /** Browser origins allowed to call the API (CORS); none by default. */
  corsOrigins: string[];
  /** Seals inline private keys at rest (NETPLUMB_SECRET_KEY or NETPLUMB_SECRET_KEY_FILE); unset = inline keys refused. */
  secretKey: Buffer | undefined;
  /** Replicas (PostgreSQL): how long a job's lease lasts without a heartbeat, this replica's id, pool size. */
  leaseMs: number;
  replicaId: string | undefined;
  pgPoolMax: number;
  /** The reconcile loop (src/reconcile/loop.ts): off, or on with a period (0: only after reconnects, reboots, container events). */
  reconcile: { enabled: boolean; intervalMs: number };
  /** How long a job waits for its host locks before it fails with a timeout. */
  lockWaitMs: number;
  /** SIGTERM: how long running jobs are waited for before the process exits anyway (their records then `unknown`). */
  shutdownGraceMs: number;
  /** NETPLUMB_LOG_LEVEL. */
  logLevel: LogLevel;
  /** A second token that opens /metrics only (a Prometheus scraper need not hold the API token). */
  metricsToken: string | undefined;
  /** Where spans go (OTLP over HTTP); unset: not traced beyond ids. */
  otlpEndpoint: string | undefined;
  /** Trusted OIDC issuers (CI identity tokens). */
  oidc: OidcIssuer[];
  /** Per-principal token buckets; undefined when NETPLUMB_RATE_BURST=0. */
  rateLimit: { burst: number; perSecond: number } | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = Env.safeParse(env);
  if (!r.success) {
    throw new Error('bad configuration: ' + r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const e = r.data;
  let secretKey: Buffer | undefined;
  try {
    secretKey = loadSecretKey(env);
  } catch (err) {
    throw new Error(`bad configuration: ${(err as Error).message}`);
  }
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
    allowedHosts: e.NETPLUMB_ALLOWED_HOSTS,
    corsOrigins: e.NETPLUMB_CORS_ORIGINS.map((o) => new URL(o).origin),
    secretKey,
    leaseMs: e.NETPLUMB_LEASE_S * 1000,
    replicaId: e.NETPLUMB_REPLICA_ID,
    pgPoolMax: e.NETPLUMB_PG_POOL,
    reconcile: { enabled: e.NETPLUMB_RECONCILE === 'on', intervalMs: e.NETPLUMB_RECONCILE_INTERVAL_S * 1000 },
    lockWaitMs: e.NETPLUMB_LOCK_WAIT_S * 1000,
    shutdownGraceMs: e.NETPLUMB_SHUTDOWN_GRACE_S * 1000,
    logLevel: e.NETPLUMB_LOG_LEVEL,
    metricsToken: e.NETPLUMB_METRICS_TOKEN,
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    oidc: e.NETPLUMB_OIDC,
    rateLimit: e.NETPLUMB_RATE_BURST > 0 ? { burst: e.NETPLUMB_RATE_BURST, perSecond: e.NETPLUMB_RATE_PER_S } : undefined,
  };
}
