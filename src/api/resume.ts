/**
 * Jobs as data. A job accepted by one process can be run by another: a serverless function queues it and a worker
 * claims it (src/lambda.ts, src/worker.ts). What the work needs is in the job row — its kind ("<type>.<action>"),
 * its resource and its params — and the resource's kind says how to run it (ResourceKind.resume), calling the same
 * functions the routes call, under the same lock (lockModeOf). Actions a kind does not list are not resumable:
 * where they are accepted they run in the process that accepted them (a function runs them within the invocation).
 */
import type { LockMode } from '../jobs/locks.js';
import { kindNamed, kinds } from '../kinds/index.js';
import { lockModeOf, stricterLock, type Resumable } from '../kinds/kind.js';
import { ProblemError } from '../model/problems.js';
import { ResourceStateSchema } from '../model/resource.js';
import type { JobRecord, Store } from '../store/types.js';
import type { Mutation } from './mutation.js';
import { deleteWork } from './resources.js';

export type Resumed = Pick<Mutation, 'work' | 'successStatus' | 'render'> & { lockMode?: LockMode };

const ACTIONS = ['create', 'update', 'probe', 'delete'] as const satisfies readonly (keyof Resumable)[];

/** The kinds of job a worker can run from their rows, from the kinds' resume members. */
export const RESUMABLE_KINDS: readonly string[] = Object.values(kinds).flatMap((k) =>
  ACTIONS.filter((a) => (k as { resume?: Resumable }).resume?.[a]).map((a) => `${k.type}.${a}`),
);

export function isResumable(kind: string): boolean {
  return RESUMABLE_KINDS.includes(kind);
}

/** A stored parameter, checked (a row written by an older or foreign process fails the job clearly). */
function param<T>(job: JobRecord, name: string, parse: (v: unknown) => T): T {
  try {
    return parse(job.params?.[name]);
  } catch (e) {
    throw new ProblemError('internal', `job ${job.id} (${job.kind}) has no usable parameter ${name}: ${(e as Error).message}`);
  }
}

/** The work of a stored job, or null when its kind cannot be resumed from its row. */
export async function resumeJob(store: Store, job: JobRecord): Promise<Resumed | null> {
  const [type, action] = job.kind.split('.') as [string, string | undefined];
  const kind = kindNamed(type);
  if (!kind || kind.type !== job.resource.type || !isResumable(job.kind)) return null;
  const id = job.resource.id;
  const r = await kind.find(store, id);
  const render = async () => {
    const now = await kind.find(store, id);
    return now ? (kind.render(now) as object) : {};
  };
  if (action === 'delete') {
    const opts = {
      cascade: param(job, 'cascade', (v) => v === true),
      stateBefore: param(job, 'stateBefore', (v) => ResourceStateSchema.parse(v)),
    };
    // Dependents as they are now (a cascade was allowed when the request was accepted; without one there were none).
    const dependents = r && opts.cascade ? await kind.dependents(store, r) : [];
    return {
      work: r ? deleteWork(kind, r, dependents, opts) : async () => {},
      successStatus: 204,
      lockMode: dependents.length ? 'exclusive' : r ? lockModeOf(kind, r) : kind.lockMode,
    };
  }
  const how = kind.resume?.[action as 'create' | 'update' | 'probe'];
  if (!how) return null;
  for (const [name, check] of Object.entries(how.params ?? {})) param(job, name, check);
  let lockMode = r ? lockModeOf(kind, r) : kind.lockMode;
  // An update holds what the resource needs before it as well as after it (as the request path does).
  const previous = job.params?.previous;
  if (r && action === 'update' && previous && typeof previous === 'object')
    lockMode = stricterLock(lockMode, lockModeOf(kind, { ...r, data: previous as typeof r.data }));
  return { work: (ctx) => how.run(ctx, id, job.params ?? null), successStatus: how.successStatus, render, lockMode };
}
