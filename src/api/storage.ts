/** The store failing, as the API shows it: 503 storage-unavailable with Retry-After, /healthz and /readyz. */
import type { Context, Env, Hono } from 'hono';
import type { AppDeps } from '../deps.js';
import { problem } from '../model/problems.js';
import { describeFault, StorageUnavailableError } from '../store/faults.js';
import type { JobRecord } from '../store/types.js';
import { problemResponse } from './problems.js';

export function storageProblemResponse(c: Context, err: unknown, retryAfterS: number): Response {
  const e = err instanceof StorageUnavailableError ? err : null;
  const detail = e ? e.message : `the store cannot be used right now (${describeFault(err)}); try again later`;
  const res = problemResponse(c, problem('storage-unavailable', detail, e?.details ?? {}));
  res.headers.set('Retry-After', String(e?.retryAfterS ?? retryAfterS));
  return res;
}

/**
 * A finished job whose outcome is still only in memory is not answered as done: nothing is acknowledged that a
 * crash could take back. The client gets 503 with the jobId; the job's outcome (GET /jobs/{id}) and, with the same
 * Idempotency-Key, the stored answer follow once the store takes writes again.
 */
export function requireSaved(deps: AppDeps, job: JobRecord): void {
  if (!deps.storage.hasPendingWrites(job.id)) return;
  const { retryAfterS } = deps.storage.health();
  throw new StorageUnavailableError(
    `job ${job.id} ${job.status} on the hosts, but the store cannot save its outcome right now; it is kept in memory and saved when the store recovers: see GET /jobs/${job.id}, or repeat the request with the same Idempotency-Key`,
    retryAfterS,
    { jobId: job.id },
  );
}

/** /healthz: liveness (always answers, says how the store is); /readyz: 503 while the store cannot write. */
export function mountHealth<E extends Env>(app: Hono<E>, deps: AppDeps, version: string): void {
  app.get('/healthz', (c) => {
    const store = deps.storage.health();
    return c.json({ status: store.writable ? 'ok' : 'degraded', version, store: { status: store.writable ? 'ok' : 'failing', ...store } });
  });
  app.get('/readyz', async (c) => {
    const store = await deps.storage.check();
    if (store.writable) return c.json({ status: 'ready', store: { status: 'ok', ...store } });
    const p = problem(
      'storage-unavailable',
      `the store cannot write${store.error ? ` (${store.error})` : ''}; ${store.pendingWrites} write(s) kept in memory`,
      { store: { status: 'failing', ...store } },
    );
    const res = problemResponse(c, p);
    res.headers.set('Retry-After', String(store.retryAfterS));
    return res;
  });
}
