/** Typed access to resource records: every read parses the stored JSON with its kind's schema. */
import type { ResourceType } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { ResourceDataSchemas, type DataOf } from '../model/resource-data.js';
import { ResourceStateSchema, type Resource } from '../model/resource.js';
import type { ResourceRecord, Store } from '../store/types.js';

export function nowIso(): string {
  return new Date().toISOString();
}

/** A stored row as a typed resource; a row that does not parse is a clear error naming the row. */
export function parseRecord<T extends ResourceType>(type: T, rec: ResourceRecord): Resource<DataOf<T>> & { type: T } {
  const data = ResourceDataSchemas[type].safeParse(rec.data);
  const state = ResourceStateSchema.safeParse(rec.state);
  if (rec.type !== type || !data.success || !state.success) {
    const why =
      rec.type !== type
        ? `it is a ${rec.type}`
        : !state.success
          ? `bad state ${JSON.stringify(rec.state)}`
          : data.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ProblemError('internal', `stored ${type} ${rec.id} cannot be read (${why})`);
  }
  return {
    id: rec.id,
    type,
    key: rec.key,
    state: state.data,
    jobId: rec.jobId,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    data: data.data as DataOf<T>,
  };
}

/** The resource of this type with this id, or null (missing, or of another type). */
export function readResource<T extends ResourceType>(store: Store, type: T, id: string): (Resource<DataOf<T>> & { type: T }) | null {
  const rec = store.getResource(id);
  return rec && rec.type === type ? parseRecord(type, rec) : null;
}

export function readByKey<T extends ResourceType>(store: Store, type: T, key: string): (Resource<DataOf<T>> & { type: T }) | null {
  const rec = store.getResourceByKey(type, key);
  return rec ? parseRecord(type, rec) : null;
}

/** Every resource of a type (matching top-level `where` fields), parsed. */
export function readAll<T extends ResourceType>(
  store: Store,
  type: T,
  where?: Record<string, string | undefined>,
): (Resource<DataOf<T>> & { type: T })[] {
  return store.allResources(type, where).map((r) => parseRecord(type, r));
}

/** Inside a job: the resource must still exist. */
export function mustRead<T extends ResourceType>(store: Store, type: T, id: string): Resource<DataOf<T>> & { type: T } {
  const r = readResource(store, type, id);
  if (!r) throw new ProblemError('not-found', `${type} ${id} no longer exists`);
  return r;
}

/** Writes a resource back (data, state, job) with a fresh updatedAt; keeps the stored secret. */
export function saveResource<D>(
  store: Store,
  r: Resource<D>,
  patch: Partial<Pick<Resource<D>, 'data' | 'state' | 'jobId'>> = {},
): Resource<D> {
  Object.assign(r, patch, { updatedAt: nowIso() });
  const stored = store.getResource(r.id);
  store.updateResource({
    id: r.id,
    type: r.type,
    key: r.key,
    state: r.state,
    jobId: r.jobId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    data: r.data,
    secret: stored?.secret ?? null,
  });
  return r;
}

/** A new resource row, pending until the job that makes it on the hosts finishes. */
export function insertPending<T extends ResourceType>(
  store: Store,
  r: { id: string; type: T; key: string; jobId: string; data: DataOf<T>; secret?: ResourceRecord['secret'] },
): void {
  const t = nowIso();
  store.insertResource({ ...r, state: 'pending', createdAt: t, updatedAt: t, secret: r.secret ?? null });
}
