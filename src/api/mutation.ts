/** Every mutation: idempotency check + job row in one transaction, then run, wait (Prefer) and answer. */
import type { Context } from 'hono';
import { renderJob } from '../model/jobs.js';
import { ProblemError } from '../model/problems.js';
import { newJob, type JobSpec, type JobWork } from '../jobs/runner.js';
import type { JobRecord, StoredResponse } from '../store/types.js';
import type { AppDeps } from '../deps.js';
import { checkKey, fingerprint, readKey, replay } from './idempotency.js';
import { parsePrefer } from './prefer.js';
import { requireSaved } from './storage.js';

export interface Mutation {
  job: JobSpec;
  /** Synchronous, inside the transaction: conflict checks and resource rows. Throws ProblemError. */
  prepare?: (job: JobRecord) => void;
  work: JobWork;
  successStatus: 200 | 201 | 204;
  /** The resource view after the job succeeded (read fresh from the store). */
  render?: () => unknown;
}

export function outcome(job: JobRecord, m: Pick<Mutation, 'successStatus' | 'render'>): StoredResponse {
  if (job.status === 'succeeded') {
    if (m.successStatus === 204) return { status: 204, headers: {}, body: null };
    const body = { ...(m.render?.() as object), job: renderJob(job) };
    return { status: m.successStatus, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  }
  const p = job.error ?? { type: 'https://netplumb.dev/problems/internal', title: 'Internal error', status: 500, detail: 'job ended without an error record', jobId: job.id };
  return { status: p.status, headers: { 'Content-Type': 'application/problem+json' }, body: JSON.stringify({ ...p, jobId: job.id }) };
}

function accepted(c: Context, job: JobRecord, applied: string[]): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Location: `/jobs/${job.id}` };
  if (applied.length) headers['Preference-Applied'] = applied.join(', ');
  return new Response(JSON.stringify({ job: renderJob(job) }), { status: 202, headers });
}

export async function mutate(c: Context, deps: AppDeps, build: () => Mutation): Promise<Response> {
  const key = readKey(c);
  const fp = key ? await fingerprint(c) : '';
  const pref = parsePrefer(c.req.header('prefer'), deps.config.defaultWaitMs);

  const started = deps.store.tx(() => {
    if (key) {
      const check = checkKey(deps.store, key, fp);
      if (check.kind === 'replay') return { replay: check.response } as const;
    }
    const m = build();
    const job = newJob(m.job);
    deps.store.insertJob(job);
    m.prepare?.(job);
    if (key) {
      const now = new Date();
      deps.store.insertIdempotency({
        key, fingerprint: fp, jobId: job.id, response: null,
        createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + deps.config.idempotencyTtlMs).toISOString(),
      });
    }
    return { job, m } as const;
  });
  if ('replay' in started) return replay(started.replay!);

  const { job, m } = started;
  deps.runner.start(job, m.work, (finished) => {
    if (key) deps.store.setIdempotencyResponse(key, outcome(finished, m));
  });
  if (pref.async) return accepted(c, job, pref.applied);
  const done = await deps.runner.wait(job.id, pref.waitMs);
  if (done.status === 'queued' || done.status === 'running') return accepted(c, done, pref.applied);
  requireSaved(deps, done);
  const r = outcome(done, m);
  if (pref.applied.length) r.headers['Preference-Applied'] = pref.applied.join(', ');
  return new Response(r.body, { status: r.status, headers: r.headers });
}

export function notFound(what: string, ref: string): ProblemError {
  return new ProblemError('not-found', `${what} ${JSON.stringify(ref)} does not exist`);
}
