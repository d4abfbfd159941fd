/** Every mutation: idempotency check + job row in one transaction, then run, wait (Prefer) and answer. */
import type { RouteConfig, RouteConfigToTypedResponse } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { newJob, type JobSpec, type JobWork } from '../jobs/runner.js';
import { renderJob } from '../model/jobs.js';
import { problem, ProblemError, type Problem } from '../model/problems.js';
import type { AppDeps } from '../deps.js';
import type { JobRecord, StoredResponse, Store } from '../store/types.js';
import type { Env } from './common.js';
import { checkKey, fingerprint, readKey, replay } from './idempotency.js';
import { parsePrefer } from './prefer.js';
import { etagOf } from './preconditions.js';
import { problemHeaders } from './problems.js';
import { requireSaved } from './storage.js';
import { isResumable } from './resume.js';
import { principalRef } from '../model/principals.js';
import { checkReach } from './reach.js';
import { AUDITED_JOB_KINDS, audit, auditRefusal } from './audit/record.js';

export interface Mutation {
  job: JobSpec;
  /** Inside the transaction (store calls only): conflict checks and resource rows. Throws ProblemError. */
  prepare?: (job: JobRecord) => Promise<unknown>;
  work: JobWork;
  successStatus: 200 | 201 | 204;
  /** The resource view after the job succeeded (read fresh from the store). */
  render?: () => Promise<object>;
  /** False when the rendered answer is not the job's resource (its `ETag` would name something else). */
  etag?: boolean;
}

/** Where each kind of resource is read (a 201's `Location`): by id, a topology by its name (its path takes no id). */
const COLLECTIONS: Record<string, string> = {
  host: 'hosts',
  bridge: 'bridges',
  attachment: 'attachments',
  tunnel: 'tunnels',
  topology: 'topologies',
};

/** The URL of what a job made (for a 201 `Location`), relative to the service; `view` is the resource as answered. */
export function locationOf(resource: { type: string; id: string }, view: object): string | null {
  const collection = COLLECTIONS[resource.type];
  if (!collection) return null;
  const name = 'name' in view && typeof view.name === 'string' ? view.name : null;
  const ref = resource.type === 'topology' ? name : resource.id;
  return ref ? `/${collection}/${encodeURIComponent(ref)}` : null;
}

/**
 * The problem a failed (or interrupted) job answers with: its error, naming the job and saying that this job ended so
 * (`jobStatus`). A problem with a `jobId` but no `jobStatus` names another job (the one a busy resource waits for, the
 * first request with an Idempotency-Key): the CLI tells the two apart by it.
 */
export function jobProblem(job: JobRecord): Problem {
  const p = job.error ?? problem('internal', 'job ended without an error record');
  return {
    ...(p as Problem),
    jobId: job.id,
    ...(job.status === 'failed' || job.status === 'interrupted' ? { jobStatus: job.status } : {}),
  };
}

/** What a finished job answers: the resource with its job (a 201 with its `Location`), or the job's problem. */
export async function outcome(
  store: Store,
  job: JobRecord,
  m: Pick<Mutation, 'successStatus' | 'render' | 'etag'>,
): Promise<StoredResponse> {
  if (job.status === 'succeeded') {
    if (m.successStatus === 204) return { status: 204, headers: {}, body: null };
    // The version is read before the view: should a write land in between, the ETag is the older one (an If-Match
    // with it is refused, never wrongly accepted).
    const record = m.render && m.etag !== false ? await store.getResource(job.resource.id) : null;
    const body = { ...(await m.render?.()), job: renderJob(job) };
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (record) headers.ETag = etagOf(record);
    const location = m.successStatus === 201 ? locationOf(job.resource, body) : null;
    if (location) headers.Location = location;
    return { status: m.successStatus, headers, body: JSON.stringify(body) };
  }
  const p = jobProblem(job);
  const status = typeof p.status === 'number' ? p.status : 500;
  return { status, headers: problemHeaders(p), body: JSON.stringify(p) };
}

/** Stores what the job's Idempotency-Keys answer from now on (its outcome). */
export async function answerIdempotencyKeys(
  store: Store,
  job: JobRecord,
  m: Pick<Mutation, 'successStatus' | 'render' | 'etag'>,
): Promise<void> {
  const keys = await store.idempotencyKeysForJob(job.id);
  if (!keys.length) return;
  const response = await outcome(store, job, m);
  if (job.status === 'interrupted') response.body = JSON.stringify({ ...jobProblem(job), instance: `/jobs/${job.id}` });
  for (const key of keys) await store.setIdempotencyResponse(key, response);
}

function accepted(job: JobRecord, applied: string[]): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Location: `/jobs/${job.id}` };
  if (applied.length) headers['Preference-Applied'] = applied.join(', ');
  return new Response(JSON.stringify({ job: renderJob(job) }), { status: 202, headers });
}

/**
 * Runs a mutation for `route`. Its answers (the resource, 202 + job, a problem, or a replayed response) are exactly
 * the statuses the route declares; they are built as plain Responses (a replay is bytes from the store), so the
 * typed response is asserted once, here.
 */
export async function mutate<R extends RouteConfig>(
  c: Context<Env>,
  _route: R,
  build: () => Promise<Mutation> | Mutation,
): Promise<RouteConfigToTypedResponse<R>> {
  return (await runMutation(c, build)) as unknown as RouteConfigToTypedResponse<R>;
}

async function runMutation(c: Context<Env>, build: () => Promise<Mutation> | Mutation): Promise<Response> {
  const deps = c.get('deps');
  const key = readKey(c);
  const fp = key ? await fingerprint(c) : '';
  const pref = parsePrefer(c.req.header('prefer'), deps.config.defaultWaitMs);

  const principal = c.get('principal');

  // Replicas: the idempotency table's unique key decides between two requests with one key (see txKeyRace).
  const started = await refusalsAudited(c, () =>
    countKeyConflicts(deps, () =>
      txKeyRace(deps.store, async () => {
        if (key) {
          const check = await checkKey(deps.store, key, fp);
          if (check.kind === 'replay') return { kind: 'replay' as const, response: check.response };
        }
        const m = await build();
        const job: JobRecord = { ...newJob(m.job), principal: principal ? principalRef(principal) : null };
        await deps.store.insertJob(job);
        await m.prepare?.(job);
        // After prepare: a host being registered is checked with the labels it is registered with.
        await checkReach(deps.store, principal, job);
        if (principal && AUDITED_JOB_KINDS.test(job.kind))
          await audit(deps.store, job.kind, principal.id, { job: job.id, resource: job.resource, hosts: job.hosts, traceId: job.traceId });
        if (key) {
          const now = new Date();
          await deps.store.insertIdempotency({
            key,
            fingerprint: fp,
            jobId: job.id,
            response: null,
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + deps.config.idempotencyTtlMs).toISOString(),
          });
        }
        return { kind: 'started' as const, job, m };
      }),
    ),
  );
  if (started.kind === 'replay') {
    deps.obs.metrics.idempotencyReplays.inc();
    return replay(started.response);
  }

  const { job, m } = started;
  const leases = deps.coordination.leases;
  if (deps.jobMode === 'invocation' && pref.async && leases && isResumable(job.kind)) {
    // A function does not run on after its answer: the job waits, queued, for a worker (src/worker.ts) to claim it.
    await leases.disown(job.id);
    return accepted(job, pref.applied);
  }
  deps.runner.start(
    job,
    m.work,
    async (finished) => {
      if (key) await deps.store.setIdempotencyResponse(key, await outcome(deps.store, finished, m));
    },
    m.job.lockMode,
  );
  // A function runs what it cannot queue within the invocation, as long as the invocation's time allows.
  // (There the answer waits for the invocation's time, not for `wait=`: neither preference is said to be applied.)
  const applied = deps.jobMode === 'invocation' ? pref.applied.filter((p) => p !== 'respond-async' && !p.startsWith('wait')) : pref.applied;
  if (pref.async && deps.jobMode !== 'invocation') return accepted(job, applied);
  const waitMs = deps.jobMode === 'invocation' ? invocationTimeLeftMs(c) : pref.waitMs;
  const done = await deps.runner.wait(job.id, waitMs);
  if (done.status === 'queued' || done.status === 'running') return accepted(done, applied);
  requireSaved(deps, done);
  const r = await outcome(deps.store, done, m);
  if (applied.length) r.headers['Preference-Applied'] = applied.join(', ');
  return new Response(r.body, { status: r.status, headers: r.headers });
}

/** A 403 from the restrictions rolled the transaction back: the refusal is written to the audit log after it. */
async function refusalsAudited<T>(c: Context<Env>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const principal = c.get('principal');
    if (principal && e instanceof ProblemError && e.problem.status === 403) await auditRefusal(c, principal, e.problem);
    throw e;
  }
}

/** Counts the Idempotency-Key conflicts (422 reused, 409 in progress) fn throws. */
async function countKeyConflicts<T>(deps: AppDeps, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (
      e instanceof ProblemError &&
      (e.problem.type.endsWith('/idempotency-key-reused') || e.problem.type.endsWith('/idempotency-in-progress'))
    )
      deps.obs.metrics.idempotencyConflicts.inc({ reason: e.problem.type.endsWith('reused') ? 'reused' : 'in-progress' });
    throw e;
  }
}

/** Time left in a serverless invocation (hono/aws-lambda puts the Lambda context in c.env), less a margin to answer. */
function invocationTimeLeftMs(c: Context<Env>): number {
  const lambda = (c.env as { lambdaContext?: { getRemainingTimeInMillis?: () => number } } | undefined)?.lambdaContext;
  const left = lambda?.getRemainingTimeInMillis?.();
  return typeof left === 'number' ? Math.max(0, left - INVOCATION_MARGIN_MS) : c.get('deps').config.defaultWaitMs;
}

/** What a function keeps of its invocation's time to write its answer. */
const INVOCATION_MARGIN_MS = 1500;

/**
 * Runs the mutation's transaction; when the store's unique key refused the Idempotency-Key (another replica's
 * request with the same key committed first: PgStore throws IdempotencyKeyTakenError), runs it once more, and
 * checkKey then finds the winner's record (its replay, or 409 while it runs).
 */
async function txKeyRace<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  try {
    return await store.tx(fn);
  } catch (e) {
    if ((e as { name?: unknown }).name !== 'IdempotencyKeyTakenError') throw e;
    return await store.tx(fn);
  }
}
