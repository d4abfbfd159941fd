/**
 * One interface every resource kind implements (in the manner of containerlab's links/: resolve → deploy → remove,
 * with explicit state). Routes and jobs are thin over it: the generic get/list/delete routes, cascades and
 * `?observe=true`, the reconcile loop's observe, a worker resuming a job (resume) and the lock a job takes
 * (lockModeFor) go through a kind; what differs per kind lives in its module (src/kinds/<kind>.ts).
 */
import { ContainerNotFoundError, resolveContainer, type ContainerInfo } from '../docker/index.js';
import { runBatchOn } from '../exec/batch.js';
import { ExecError } from '../exec/errors.js';
import { byName, namedEntries } from '../exec/named.js';
import type { HostServices, HostTarget } from '../exec/pool.js';
import { ANY_EXIT } from '../jobs/plan-runner.js';
import { ProblemError } from '../model/problems.js';
import type { JobContext } from '../jobs/runner.js';
import type { LockMode } from '../jobs/locks.js';
import type { ResourceType } from '../model/names.js';
import type { AnyResource, DataOf } from '../model/resource-data.js';
import type { DriftItem, Resource } from '../model/resource.js';
import type { JsonObject, Store } from '../store/types.js';

export type TypedResource<T extends ResourceType> = Resource<DataOf<T>> & { type: T };

/** What a kind's observe returns: its own live fields, plus the one drift shape every kind shares. */
export interface Observation {
  observedAt: string;
  drift: DriftItem[];
}

/** Read-only access to hosts outside a job (observe): named commands on a host by id, as one batch. */
export interface HostReader {
  read<K extends string>(
    hostId: string,
    cmds: Record<K, readonly string[]>,
  ): Promise<Record<K, { exitCode: number; stdout: string; stderr: string }>>;
  /** A container as Docker on the host has it now (null: no such container). */
  container(hostId: string, ref: string): Promise<ContainerInfo | null>;
}

export interface RemoveOptions {
  /** The request asked for a cascade: dependents were removed first, and foreign leftovers may go too. */
  cascade: boolean;
}

/** One action of a kind that a worker can run from the job's row (its resource id and stored params). */
export interface ResumableAction {
  run(ctx: JobContext, id: string, params: JsonObject | null): Promise<void>;
  successStatus: 200 | 201;
  /** The stored parameters it needs, each with its check (run before the job starts: a bad row fails it clearly). */
  params?: Record<string, (value: unknown) => unknown>;
}

/** The job actions of a kind a worker can resume; `delete` is the generic delete (dependents from the row's params). */
export interface Resumable {
  create?: ResumableAction;
  update?: ResumableAction;
  probe?: ResumableAction;
  delete?: true;
}

export interface ResourceKind<T extends ResourceType, View, Obs extends Observation = Observation> {
  readonly type: T;
  /** How messages name it ("bridge", "tunnel"). */
  readonly noun: string;
  /** How its jobs hold their hosts: shared when its resources are disjoint from each other (jobs/locks.ts). */
  readonly lockMode: LockMode;
  /** A resource whose jobs need more than the kind's lockMode (e.g. an attachment sharing a VLAN device). */
  lockModeFor?(r: TypedResource<T>): LockMode;
  /** Its jobs a worker can run from their rows (src/api/resume.ts); absent: none. */
  readonly resume?: Resumable;
  /** How messages name one ("docker1", "docker1/ovs_bridge", an id). */
  describe(r: TypedResource<T>): string;
  /** The API view. */
  render(r: TypedResource<T>): View;
  /** Reference resolution: an id, or the natural reference users type ("docker1", "docker1/ovs_bridge"). */
  find(store: Store, ref: string): Promise<TypedResource<T> | null>;
  /** The hosts a job on this resource works on (all are locked, in a fixed order). */
  hosts(r: TypedResource<T>): string[];
  /** What must go before it (a cascading delete removes these first, in this order). */
  dependents(store: Store, r: TypedResource<T>): Promise<AnyResource[]>;
  /** Reads its live state from the host(s) and reports drift (absent: the kind has nothing to observe). */
  observe?(hosts: HostReader, r: TypedResource<T>, store: Store): Promise<Obs>;
  /** A delete job's work: gone from the host(s), then from the store. Idempotent: what is already gone is fine. */
  remove(ctx: JobContext, r: TypedResource<T>, opts: RemoveOptions): Promise<void>;
}

/** The lock a job on this resource takes: its own need (lockModeFor), else the kind's. */
export function lockModeOf<T extends ResourceType>(
  kind: Pick<ResourceKind<T, unknown>, 'lockMode' | 'lockModeFor'>,
  r: TypedResource<T>,
): LockMode {
  return kind.lockModeFor?.(r) ?? kind.lockMode;
}

/** The stricter of two lock modes (an update holds what the resource needs before and after it). */
export function stricterLock(a: LockMode, b: LockMode): LockMode {
  return a === 'exclusive' || b === 'exclusive' ? 'exclusive' : 'shared';
}

/** A HostReader over the connection pool (read-only commands, 15 s each). */
export function hostReader(hosts: HostServices, target: (hostId: string) => Promise<HostTarget | null>): HostReader {
  return {
    read: async <K extends string>(hostId: string, cmds: Record<K, readonly string[]>) => {
      const t = await target(hostId);
      if (!t) throw new ProblemError('not-found', `host ${hostId} no longer exists`);
      const entries = namedEntries(cmds);
      const r = await runBatchOn(
        hosts.executor(t),
        entries.map(([, argv]) => ({ argv, okExitCodes: ANY_EXIT })),
        { timeoutMs: 15_000 },
      );
      if (r.results.length !== entries.length) throw new ExecError('timeout', `${t.connection.label}: reading its state timed out`);
      return byName(
        entries.map(([k]) => k),
        r.results,
      );
    },
    container: async (hostId, ref) => {
      const t = await target(hostId);
      if (!t) throw new ProblemError('not-found', `host ${hostId} no longer exists`);
      try {
        return await resolveContainer(hosts.docker(t), ref, { requireRunning: false });
      } catch (e) {
        if (e instanceof ContainerNotFoundError) return null;
        throw e;
      }
    },
  };
}

/** A job's reads as a HostReader (for the observe functions the kinds share with `?observe=true`). */
export function jobReader(ctx: Pick<JobContext, 'read'>): HostReader {
  return { read: (hostId, cmds) => ctx.read(hostId, cmds), container: () => Promise.resolve(null) };
}
