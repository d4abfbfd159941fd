import type { JobRunner } from './jobs/runner.js';
import type { OidcIssuer } from './model/principals.js';
import type { HostServices } from './exec/pool.js';
import type { Store } from './store/types.js';
import type { StoreStatus } from './store/fault-tolerant.js';
import type { Coordination } from './store/coordination.js';
import type { LogLevel, Observability } from './observability/index.js';

export interface AppConfig {
  /** Bearer token; unset = no auth (the server then binds loopback only). */
  token?: string | undefined;
  defaultWaitMs: number;
  idempotencyTtlMs: number;
  maxBodyBytes: number;
  /** When set, SSH `privateKeyPath`s must lie inside this directory (API callers cannot point the service at other files). */
  keyDir?: string | undefined;
  /** The listening port, for the Host check (unset or 0: any port on the loopback names). */
  port?: number | undefined;
  /** Host header values served besides the loopback names (without a token always checked; with one when set). */
  allowedHosts?: readonly string[] | undefined;
  /** Browser origins allowed to call the API across origins (CORS). None by default. */
  corsOrigins?: readonly string[] | undefined;
  /** AES-256 key sealing inline private keys at rest; without it inline keys are refused (422). */
  secretKey?: Buffer | undefined;
  /** The longest a job waits for its host locks before it fails with a `timeout` problem (default 600 s). */
  lockWaitMs?: number | undefined;
  /** A token that opens GET /metrics only (besides the API token). */
  metricsToken?: string | undefined;
  /** Log level of the service's own log (default silent: a library user or a test asks for lines). */
  logLevel?: LogLevel | undefined;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans exported there. */
  otlpEndpoint?: string | undefined;
  /** Trusted OIDC issuers (NETPLUMB_OIDC): CI identity tokens as bearers. None: OIDC off. */
  oidc?: readonly OidcIssuer[] | undefined;
  /** Per-principal token buckets (NETPLUMB_RATE_BURST, NETPLUMB_RATE_PER_S); unset: no limit. */
  rateLimit?: { burst: number; perSecond: number } | undefined;
}

export interface AppDeps {
  store: Store;
  runner: JobRunner;
  hosts: HostServices;
  config: AppConfig;
  /** Whether the store takes writes, and what jobs keep in memory until it does (the same object as store). */
  storage: StoreStatus;
  /** Replicas (PostgreSQL): host locks, leases, job feed; one process has an empty one. */
  coordination: Coordination;
  /** Metrics, structured logs and traces of this app (src/observability/). */
  obs: Observability;
  /** The Docker plugin's sockets on the hosts (src/docker-plugin.ts): served again at start-up, closed at shutdown. */
  plugin?: { serveKnownHosts(): Promise<void>; close(): void };
  /**
   * How accepted jobs run. `background` (a service process): started at once, answered when done or when the wait
   * ends, running on after it. `invocation` (a serverless function, src/lambda.ts): a job asked for asynchronously is
   * queued for a worker (when its kind can be resumed from its row: api/resume.ts); any other runs within the
   * invocation, which answers when it ends (or, past the invocation's time, 202 with the job as it stands).
   */
  jobMode?: 'background' | 'invocation';
  /** Set on the first SIGTERM/SIGINT: no new work is taken, /healthz and /readyz answer 503 `shutting-down`. */
  lifecycle: { draining: boolean };
}
