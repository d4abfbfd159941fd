/** Pieces every resource's routes share: list paging, id params, reference resolution. */
import { z } from '@hono/zod-openapi';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { ResourceRecord, Store } from '../store/types.js';
import { ProblemError } from '../model/problems.js';
import { JobSchema } from '../model/jobs.js';
import type { AppDeps } from '../deps.js';
import { problemResponse, validationProblem } from './problems.js';

export const ListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50).openapi({ param: { name: 'limit', in: 'query' }, example: 50 }),
  cursor: z.string().max(64).optional().openapi({ param: { name: 'cursor', in: 'query' } }),
});

export const IdOrNameParam = z.object({
  idOrName: z.string().min(1).max(128).openapi({ param: { name: 'idOrName', in: 'path' }, example: 'docker1' }),
});

export const IdParam = z.object({
  id: z.string().min(1).max(128).openapi({ param: { name: 'id', in: 'path' }, example: 'br_01kb2xk3a7wqp4fmz3hyd2n6' }),
});

export const PreferHeader = z.object({
  prefer: z.string().optional().openapi({ param: { name: 'prefer', in: 'header' }, example: 'wait=30', description: '`respond-async` answers 202 at once; `wait=N` waits up to N seconds for the job (default 30)' }),
  'idempotency-key': z.string().optional().openapi({ param: { name: 'idempotency-key', in: 'header' }, example: '6f1c0e0a-seed-bridge-docker1', description: 'Same key + same request → the stored response again (kept 24 h)' }),
});

export const AcceptedSchema = z.object({ job: JobSchema }).openapi('Accepted');
export const acceptedResponse = {
  202: {
    description: 'The job runs on; poll `Location` (`/jobs/{id}`) or stream its logs',
    headers: z.object({ Location: z.string() }),
    content: { 'application/json': { schema: AcceptedSchema } },
  },
} as const;

export function listOf<T extends z.ZodTypeAny>(item: T, name: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
}

export type Env = { Variables: { deps: AppDeps } };

/** Every router answers invalid input with a 422 problem carrying JSON pointers. */
export function router(): OpenAPIHono<Env> {
  return new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) return problemResponse(c, validationProblem(result.error as never, result.target));
      return undefined;
    },
  });
}

const HOST_ID = /^host_[a-z2-7]{20}$/;

/** A host by id or by name. */
export function findHost(store: Store, ref: string): ResourceRecord | null {
  const r = HOST_ID.test(ref) ? store.getResource(ref) : store.getResourceByKey('host', ref);
  return r && r.type === 'host' ? r : null;
}

export function requireHost(store: Store, ref: string, pointer?: string): ResourceRecord {
  const h = findHost(store, ref);
  if (!h) {
    throw new ProblemError('not-found', `host ${JSON.stringify(ref)} does not exist`, pointer ? { errors: [{ pointer, detail: 'no such host' }] } : {});
  }
  return h;
}

export function nowIso(): string {
  return new Date().toISOString();
}

const BRIDGE_ID = /^br_[a-z2-7]{20}$/;

/** A bridge by id, or by natural name "host/bridge" (host as name or id). */
export function findBridge(store: Store, ref: string): ResourceRecord | null {
  if (BRIDGE_ID.test(ref)) {
    const r = store.getResource(ref);
    return r && r.type === 'bridge' ? r : null;
  }
  const slash = ref.indexOf('/');
  if (slash <= 0) return null;
  const host = findHost(store, ref.slice(0, slash));
  return host ? store.getResourceByKey('bridge', `${host.id}/${ref.slice(slash + 1)}`) : null;
}

export function requireBridge(store: Store, ref: string, pointer?: string): ResourceRecord {
  const b = findBridge(store, ref);
  if (!b) {
    throw new ProblemError('not-found', `bridge ${JSON.stringify(ref)} does not exist (use an id or "host/name")`, pointer ? { errors: [{ pointer, detail: 'no such bridge' }] } : {});
  }
  return b;
}

/**
 * Names already used on a host, and by what. Interface names are per host, not per bridge: Linux devices share the
 * host's namespace and OVS port names are unique across all bridges of one database; an OVS bridge is a port too.
 */
export function interfaceNamesOnHost(store: Store, hostId: string): Map<string, string> {
  const used = new Map<string, string>();
  for (const t of store.listResources('tunnel', { limit: 100_000 }).items) {
    for (const e of (t.data as { endpoints: { hostId: string; portName: string }[] }).endpoints) if (e.hostId === hostId) used.set(e.portName, t.id);
  }
  for (const b of store.listResources('bridge', { limit: 100_000, where: { hostId } }).items) used.set((b.data as { name: string }).name, b.id);
  for (const a of store.listResources('attachment', { limit: 100_000, where: { hostId } }).items) {
    const n = (a.data as { hostIfname?: string }).hostIfname;
    if (n) used.set(n, a.id);
  }
  return used;
}

/** A resource another job is still working on cannot be changed or deleted yet; ready and failed ones can. */
export function requireSettled(rec: ResourceRecord, what: string): void {
  if (rec.state === 'pending' || rec.state === 'deleting') {
    throw new ProblemError('conflict', `${what} ${rec.id} is ${rec.state}; wait for its job ${rec.jobId}`, rec.jobId ? { jobId: rec.jobId } : {});
  }
}
