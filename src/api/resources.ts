/**
 * What every kind answers the same way, written once: get (with observe), delete (with cascade). The route files
 * declare their paths and schemas; their handlers are one call into here.
 */
import { hostTarget } from '../jobs/host-target.js';
import { recordStateAfter } from '../jobs/outcomes.js';
import { saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import type { DataOf } from '../model/resource-data.js';
import { hostsOf, removeAny } from '../kinds/index.js';
import { hostReader, lockModeOf, stricterLock, type Observation, type ResourceKind, type TypedResource } from '../kinds/kind.js';
import { notFound, requireNotOwned, requireSettled } from '../kinds/refs.js';
import type { ResourceType } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import type { AppDeps } from '../deps.js';
import type { Mutation } from './mutation.js';
import { NO_CONDITIONS, requirePreconditions, type Conditions } from './preconditions.js';
import type { JobWork } from '../jobs/runner.js';
import type { AnyResource } from '../model/resource-data.js';
import type { ResourceState } from '../model/resource.js';

/** The resource by id or natural reference, or a 404 problem. */
export async function requireResource<T extends ResourceType, V, O extends Observation>(
  deps: AppDeps,
  kind: ResourceKind<T, V, O>,
  ref: string,
): Promise<TypedResource<T>> {
  const r = await kind.find(deps.store, ref);
  if (!r) throw notFound(kind.noun, ref);
  return r;
}

/** The API view, with `observed` (live state and drift from the hosts) when asked for. */
export async function viewOf<T extends ResourceType, V, O extends Observation>(
  deps: AppDeps,
  kind: ResourceKind<T, V, O>,
  r: TypedResource<T>,
  observe: boolean,
): Promise<V | (V & { observed: O })> {
  const view = kind.render(r);
  if (!observe || !kind.observe) return view;
  return {
    ...view,
    observed: await kind.observe(
      hostReader(deps.hosts, (id) => hostTarget(deps.store, id)),
      r,
      deps.store,
    ),
  };
}

/**
 * A delete job: refused while something depends on the resource (unless cascading); dependents go first, in the
 * same job, under every host's lock; a failure puts the record back in the state it had.
 */
export async function deleteMutation<T extends ResourceType, V, O extends Observation>(
  deps: AppDeps,
  kind: ResourceKind<T, V, O>,
  ref: string,
  opts: { cascade: boolean; cascadeOffered: boolean; conditions?: Conditions },
): Promise<Mutation> {
  const r = await requireResource(deps, kind, ref);
  requirePreconditions(opts.conditions ?? NO_CONDITIONS, r, `${kind.noun} ${kind.describe(r)}`);
  requireNotOwned(r, kind.noun);
  requireSettled(r, kind.noun);
  const dependents = await kind.dependents(deps.store, r);
  if (dependents.length && !opts.cascade) {
    throw new ProblemError(
      'conflict',
      `${kind.noun} ${kind.describe(r)} is used by ${dependents.map((d) => d.id).join(', ')}; delete them first${opts.cascadeOffered ? ' or pass ?cascade=true' : ''}`,
    );
  }
  const hosts = [...new Set([...kind.hosts(r), ...dependents.flatMap(hostsOf)])];
  const stateBefore = r.state;
  return {
    // A cascade touches other kinds' objects: it holds its hosts exclusively.
    job: {
      kind: `${kind.type}.delete`,
      resource: { type: kind.type, id: r.id },
      hosts,
      lockMode: dependents.length ? 'exclusive' : lockModeOf(kind, r),
      params: { cascade: opts.cascade, stateBefore },
    },
    prepare: async (job) => await saveResource(deps.store, r, { state: 'deleting', jobId: job.id }),
    work: deleteWork(kind, r, dependents, { cascade: opts.cascade, stateBefore }),
    successStatus: 204,
  };
}

/** A delete job's work (also resumed from its params by a worker: api/resume.ts). */
export function deleteWork<T extends ResourceType, V, O extends Observation>(
  kind: ResourceKind<T, V, O>,
  r: TypedResource<T>,
  dependents: readonly AnyResource[],
  opts: { cascade: boolean; stateBefore: ResourceState },
): JobWork {
  return async (ctx) => {
    try {
      for (const dependent of dependents) {
        ctx.log(null, 'info', `cascade: deleting ${dependent.type} ${dependent.id}`);
        await removeAny(ctx, dependent, { cascade: opts.cascade });
      }
      await kind.remove(ctx, r, { cascade: opts.cascade });
    } catch (e) {
      // Still there (the failure came before the record went): back to the state it had, or `unknown` when the
      // host may have done part of it (the reconcile loop then finishes the delete: the record's job is this one).
      await saveResource(ctx.store, r, { state: recordStateAfter(e, opts.stateBefore) });
      throw e;
    }
  };
}

/**
 * A PATCH job: the record goes `pending` with its next data (`change` checks the request and makes it, throwing a
 * ProblemError before anything is stored); the job takes the host from the previous data to it — `work` gets the
 * previous data, which the job row keeps too, so a worker can run it (api/resume.ts).
 */
export async function updateMutation<T extends 'bridge' | 'tunnel' | 'attachment', V extends object, O extends Observation>(
  deps: AppDeps,
  kind: ResourceKind<T, V, O>,
  ref: string,
  change: (previous: DataOf<T>) => DataOf<T> | Promise<DataOf<T>>,
  work: (ctx: JobContext, id: string, previous: DataOf<T>) => Promise<void>,
  conditions: Conditions = NO_CONDITIONS,
): Promise<Mutation> {
  const r = await requireResource(deps, kind, ref);
  requirePreconditions(conditions, r, `${kind.noun} ${kind.describe(r)}`);
  requireNotOwned(r, kind.noun);
  requireSettled(r, kind.noun);
  const previous = r.data;
  const next = await change(previous);
  return {
    job: {
      kind: `${kind.type}.update`,
      resource: { type: kind.type, id: r.id },
      hosts: kind.hosts(r),
      // What the resource needs before the change and after it (an attachment moving onto a shared VLAN device).
      lockMode: stricterLock(lockModeOf(kind, r), lockModeOf(kind, { ...r, data: next })),
      params: { previous },
    },
    prepare: async (job) => await saveResource(deps.store, { ...r }, { data: next, state: 'pending', jobId: job.id }),
    work: (ctx) => work(ctx, r.id, previous),
    successStatus: 200,
    render: async () => kind.render((await kind.find(deps.store, r.id)) ?? r),
  };
}
