/** Typed access to resource records: every read parses the stored JSON with its kind's schema. */
import type { ResourceType } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { ResourceDataSchemas, type DataOf } from '../model/resource-data.js';
import { ResourceStateSchema, type Resource } from '../model/resource.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/types.js';

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
    version: rec.version,
  };
}

/** The resource of this type with this id, or null (missing, or of another type). */
export async function readResource<T extends ResourceType>(
  store: Store,
  type: T,
  id: string,
): Promise<(Resource<DataOf<T>> & { type: T }) | null> {
  const rec = await store.getResource(id);
  return rec && rec.type === type ? parseRecord(type, rec) : null;
}

export async function readByKey<T extends ResourceType>(
  store: Store,
  type: T,
  key: string,
): Promise<(Resource<DataOf<T>> & { type: T }) | null> {
  const rec = await store.getResourceByKey(type, key);
  return rec ? parseRecord(type, rec) : null;
}

/** Every resource of a type (matching top-level `where` fields), parsed. */
export async function readAll<T extends ResourceType>(
  store: Store,
  type: T,
  where?: Record<string, string | undefined>,
): Promise<(Resource<DataOf<T>> & { type: T })[]> {
  return (await store.allResources(type, where)).map((r) => parseRecord(type, r));
}

/** Inside a job: the resource must still exist. */
export async function mustRead<T extends ResourceType>(store: Store, type: T, id: string): Promise<Resource<DataOf<T>> & { type: T }> {
  const r = await readResource(store, type, id);
  if (!r) throw new ProblemError('not-found', `${type} ${id} no longer exists`);
  return r;
}

export type ResourceChange<D> = Partial<Pick<Resource<D>, 'data' | 'state' | 'jobId'>>;

export interface SaveOptions<D> {
  /**
   * When the record changed since `r` was read (someone else wrote it), decides again on the current record: true
   * writes the change on top of it, false leaves it as it is. Default: write on top (a job's outcome is merged into
   * the current record: the fields it changes, nothing else).
   */
  stillWanted?: (current: Resource<D>) => boolean;
  /**
   * When the record changed since `r` was read: the change to write on the current record instead (a job that owns
   * only some fields — a re-attach's namespace and lease — merges them into what the user wrote meanwhile, rather
   * than writing back the whole `data` it read before). Null: leave it as it is.
   */
  rebase?: (current: Resource<D>) => ResourceChange<D> | null;
}

/**
 * Writes a change of a resource (only the given fields: state and job alone are a one-field patch, not a rewrite),
 * compare-and-set on the version `r` was read at. When the record changed meanwhile, it re-reads and decides again
 * (opts.stillWanted) instead of overwriting the newer record with a stale copy. Returns the record as saved (and
 * updates `r` to it), or null when nothing was written: the record is gone (a delete won: it is not brought back)
 * or the change is no longer wanted.
 */
export async function saveResource<D>(
  store: Store,
  r: Resource<D>,
  change: ResourceChange<D> = {},
  opts: SaveOptions<D> = {},
): Promise<Resource<D> | null> {
  let write: ResourceChange<D> = change;
  let expected = r.version;
  for (let attempt = 0; ; attempt++) {
    try {
      const saved = await store.patchResource(r.id, { ...write, updatedAt: nowIso() }, expected);
      if (!saved) return null;
      Object.assign(r, write, { updatedAt: saved.updatedAt, version: saved.version });
      return r;
    } catch (e) {
      if (!(e instanceof VersionConflictError) || attempt >= 5) throw e;
      const current = await store.getResource(r.id);
      if (!current) return null;
      const parsed = parseRecord(r.type, current) as unknown as Resource<D>;
      if (opts.stillWanted && !opts.stillWanted(parsed)) return null;
      if (opts.rebase) {
        const rebased = opts.rebase(parsed);
        if (!rebased) return null;
        write = rebased;
      }
      expected = current.version;
    }
  }
}

/** A new resource row, pending until the job that makes it on the hosts finishes. */
export async function insertPending<T extends ResourceType>(
  store: Store,
  r: { id: string; type: T; key: string; jobId: string; data: DataOf<T>; secret?: ResourceRecord['secret'] },
): Promise<ResourceRecord> {
  const t = nowIso();
  return await store.insertResource({ ...r, state: 'pending', createdAt: t, updatedAt: t, secret: r.secret ?? null });
}
