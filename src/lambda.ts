/**
 * The service as an AWS Lambda function (API Gateway HTTP API v2 payloads and Function URLs; also REST v1 and ALB,
 * which hono/aws-lambda understands): `export handler` of dist/lambda.mjs. The same app as the server, on the
 * PostgreSQL store the replicas use. What differs is how jobs run (AppDeps.jobMode = 'invocation', api/mutation.ts):
 * a function does not run on after its answer, so a request with `Prefer: respond-async` queues its job for a worker
 * (src/worker.ts, or the `drainQueue` handler on a schedule), and any other job runs within the invocation, which
 * answers when it ends. Warm invocations reuse the store and the SSH connections (host keys stay pinned).
 */
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import type { AppDeps } from './deps.js';
import { isPostgresUrl, openStore } from './replicas.js';
import { createDeps } from './services.js';
import { createObservability } from './observability/index.js';
import { runQueuedJobs } from './worker-loop.js';

interface Function {
  deps: AppDeps;
  fetchHandler: ReturnType<typeof handle>;
}

let instance: Function | null = null;

/**
 * Built at the first invocation of a container and kept while it stays warm. A configuration the function cannot
 * run with throws one line naming the variable (the invocation fails with it; Lambda logs it).
 */
async function init(env: NodeJS.ProcessEnv = process.env): Promise<Function> {
  if (instance) return instance;
  const config = loadConfig({ ...env, HOST: env.HOST ?? '127.0.0.1' });
  if (!isPostgresUrl(config.dbPath)) {
    throw new Error('netplumb: NETPLUMB_DB must be postgres://… in a function (its jobs and state must outlive the instance)');
  }
  if (!config.token) throw new Error('netplumb: NETPLUMB_TOKEN must be set in a function (its URL is reachable by others)');
  if (!config.allowedHosts.length) {
    throw new Error("netplumb: NETPLUMB_ALLOWED_HOSTS must name the function's host (its Function URL or API domain)");
  }
  // JSON log lines on stdout: Lambda sends them to its log group as they are.
  const obs = createObservability({ logLevel: config.logLevel, otlpEndpoint: config.otlpEndpoint });
  const opened = await openStore({
    db: config.dbPath,
    leaseMs: config.leaseMs,
    replicaId: config.replicaId,
    poolMax: config.pgPoolMax,
    log: (m) => obs.logger.warn({ component: 'replicas' }, m),
  });
  const deps = await createDeps(opened.store, config, undefined, opened.coordination, obs);
  deps.jobMode = 'invocation';
  instance = { deps, fetchHandler: handle(createApp(deps)) };
  return instance;
}

/** The HTTP handler. */
export async function handler(event: LambdaEvent, context?: LambdaContext) {
  return (await init()).fetchHandler(event, context);
}

/**
 * A scheduled handler (EventBridge): runs queued jobs until the queue is empty or the invocation's time is nearly
 * up, for deployments without a long-lived worker. Jobs still running when the time is up are waited for (their
 * lease lapses if the function is stopped, and a worker or replica then marks them interrupted).
 */
export async function drainQueue(_event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<{ ran: number }> {
  const { deps } = await init();
  const deadline = Date.now() + (context?.getRemainingTimeInMillis?.() ?? 60_000) - 10_000;
  const ran = await runQueuedJobs(deps, { untilIdle: true, shouldStop: () => Date.now() > deadline });
  return { ran };
}

/** For tests: forget the instance (closes nothing; the caller closes its deps). */
export function resetForTests(): AppDeps | null {
  const deps = instance?.deps ?? null;
  instance = null;
  return deps;
}
