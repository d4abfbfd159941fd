/**
 * Jobs as data. A job accepted by one process can be run by another: a serverless function queues it and a worker
 * claims it (src/lambda.ts, src/worker.ts). What the work needs is in the job row — its kind, its resource and its
 * params — and this finds the work from them, calling the same kind functions the routes call. Kinds not listed
 * here are not resumable: where they are accepted they run in the process that accepted them (a function runs them
 * within the invocation).
 */
import type { LockMode } from '../jobs/locks.js';
import { probeAndRecord } from '../jobs/hosts.js';
import { readResource } from '../jobs/records.js';
import { attachmentKind, createAttachment } from '../kinds/attachment.js';
import { bridgeKind, createBridge, updateBridge } from '../kinds/bridge.js';
import { updateAttachmentLive, updateTunnelLive } from '../kinds/impairments.js';
import { kinds } from '../kinds/index.js';
import { createTunnel, tunnelKind } from '../kinds/tunnel.js';
import { AttachmentDataSchema } from '../model/attachments.js';
import { BridgeDataSchema } from '../model/bridges.js';
import { ProblemError } from '../model/problems.js';
import { ResourceStateSchema } from '../model/resource.js';
import { TunnelDataSchema } from '../model/tunnels.js';
import type { JobRecord, Store } from '../store/types.js';
import type { Mutation } from './mutation.js';
import { deleteWork } from './resources.js';

export type Resumed = Pick<Mutation, 'work' | 'successStatus' | 'render'> & { lockMode?: LockMode };

/** The kinds of job a worker can run from their rows. */
export const RESUMABLE_KINDS = [
  'host.create',
  'host.probe',
  'bridge.create',
  'bridge.update',
  'bridge.delete',
  'tunnel.create',
  'tunnel.update',
  'tunnel.delete',
  'attachment.create',
  'attachment.update',
  'attachment.delete',
] as const;

export function isResumable(kind: string): boolean {
  return (RESUMABLE_KINDS as readonly string[]).includes(kind);
}

/** The resource's view after the job (read fresh), as the route renders it. */
function viewOf(store: Store, type: 'host' | 'bridge' | 'tunnel' | 'attachment', id: string): () => object {
  return () => {
    switch (type) {
      case 'host': {
        const r = readResource(store, 'host', id);
        return r ? kinds.host.render(r) : {};
      }
      case 'bridge': {
        const r = readResource(store, 'bridge', id);
        return r ? kinds.bridge.render(r) : {};
      }
      case 'tunnel': {
        const r = readResource(store, 'tunnel', id);
        return r ? kinds.tunnel.render(r) : {};
      }
      case 'attachment': {
        const r = readResource(store, 'attachment', id);
        return r ? kinds.attachment.render(r) : {};
      }
    }
  };
}

/** A stored parameter, checked (a row written by an older or foreign process fails the job clearly). */
function param<T>(job: JobRecord, name: string, parse: (v: unknown) => T): T {
  try {
    return parse(job.params?.[name]);
  } catch (e) {
    throw new ProblemError('internal', `job ${job.id} (${job.kind}) has no usable parameter ${name}: ${(e as Error).message}`);
  }
}

function deleteOf(store: Store, job: JobRecord, type: 'bridge' | 'tunnel' | 'attachment'): Resumed {
  const opts = {
    cascade: param(job, 'cascade', (v) => v === true),
    stateBefore: param(job, 'stateBefore', (v) => ResourceStateSchema.parse(v)),
  };
  const id = job.resource.id;
  // Dependents as they are now (a cascade was allowed when the request was accepted; without one there were none).
  const lockMode = (n: number, own: LockMode): LockMode => (n ? 'exclusive' : own);
  switch (type) {
    case 'bridge': {
      const r = bridgeKind.find(store, id);
      const dependents = r && opts.cascade ? bridgeKind.dependents(store, r) : [];
      return {
        work: r ? deleteWork(bridgeKind, r, dependents, opts) : async () => {},
        successStatus: 204,
        lockMode: lockMode(dependents.length, bridgeKind.lockMode),
      };
    }
    case 'tunnel': {
      const r = tunnelKind.find(store, id);
      const dependents = r && opts.cascade ? tunnelKind.dependents(store, r) : [];
      return {
        work: r ? deleteWork(tunnelKind, r, dependents, opts) : async () => {},
        successStatus: 204,
        lockMode: lockMode(dependents.length, tunnelKind.lockMode),
      };
    }
    case 'attachment': {
      const r = attachmentKind.find(store, id);
      const dependents = r && opts.cascade ? attachmentKind.dependents(store, r) : [];
      return {
        work: r ? deleteWork(attachmentKind, r, dependents, opts) : async () => {},
        successStatus: 204,
        lockMode: lockMode(dependents.length, attachmentKind.lockMode),
      };
    }
  }
}

/** The work of a stored job, or null when its kind cannot be resumed from its row. */
export function resumeJob(store: Store, job: JobRecord): Resumed | null {
  const id = job.resource.id;
  const type = job.resource.type;
  switch (job.kind) {
    case 'host.create':
      return { work: (ctx) => probeAndRecord(ctx, id), successStatus: 201, render: viewOf(store, 'host', id) };
    case 'host.probe':
      return { work: (ctx) => probeAndRecord(ctx, id), successStatus: 200, render: viewOf(store, 'host', id) };
    case 'bridge.create':
      return { work: (ctx) => createBridge(ctx, id), successStatus: 201, render: viewOf(store, 'bridge', id) };
    case 'bridge.update': {
      const previous = param(job, 'previous', (v) => BridgeDataSchema.parse(v));
      return { work: (ctx) => updateBridge(ctx, id, previous), successStatus: 200, render: viewOf(store, 'bridge', id) };
    }
    case 'tunnel.create':
      return { work: (ctx) => createTunnel(ctx, id), successStatus: 201, render: viewOf(store, 'tunnel', id) };
    case 'tunnel.update': {
      const previous = param(job, 'previous', (v) => TunnelDataSchema.parse(v));
      return {
        work: (ctx) => updateTunnelLive(ctx, id, previous),
        successStatus: 200,
        render: viewOf(store, 'tunnel', id),
        lockMode: tunnelKind.lockMode,
      };
    }
    case 'attachment.create':
      return {
        work: (ctx) => createAttachment(ctx, id),
        successStatus: 201,
        render: viewOf(store, 'attachment', id),
        lockMode: attachmentKind.lockMode,
      };
    case 'attachment.update': {
      const previous = param(job, 'previous', (v) => AttachmentDataSchema.parse(v));
      return {
        work: (ctx) => updateAttachmentLive(ctx, id, previous),
        successStatus: 200,
        render: viewOf(store, 'attachment', id),
        lockMode: attachmentKind.lockMode,
      };
    }
    case 'bridge.delete':
    case 'tunnel.delete':
    case 'attachment.delete':
      if (type !== 'bridge' && type !== 'tunnel' && type !== 'attachment') return null;
      return deleteOf(store, job, type);
  }
  return null;
}
