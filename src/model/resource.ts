/** What every resource kind shares: its lifecycle state, its typed record, and one drift shape. */
import { z } from '@hono/zod-openapi';
import type { ResourceType } from './names.js';

/**
 * `unknown`: a step's outcome could not be known (lost connection, timeout); the record stays and the service resolves
 * it (observe, then finish or undo) as soon as the host answers. `target-stopped`: an attachment whose container is
 * stopped (it comes back when the container starts).
 */
export const ResourceStateSchema = z
  .enum(['pending', 'ready', 'failed', 'deleting', 'unknown', 'target-stopped'])
  .openapi('ResourceState', {
    description:
      "`unknown`: the outcome of a step is not known (connection lost, timeout); resolved by observing once the host answers. `target-stopped`: the attachment's container is stopped",
  });
export type ResourceState = z.infer<typeof ResourceStateSchema>;

/** A stored resource whose data has been parsed with its kind's schema. */
export interface Resource<D> {
  id: string;
  type: ResourceType;
  /** Natural key, unique per type (host name; "hostId/bridgeName"; …). */
  key: string;
  state: ResourceState;
  jobId: string | null;
  createdAt: string;
  updatedAt: string;
  data: D;
  /** The stored record's version (incremented by every write): writes compare and set on it; the API's ETag. */
  version: number;
}

/** One field that differs between what the service wants and what the host has. */
export const DriftItemSchema = z
  .object({ field: z.string(), desired: z.unknown(), actual: z.unknown() })
  .openapi('DriftItem', { description: 'a field whose value on the host differs from the resource' });
export type DriftItem = z.infer<typeof DriftItemSchema>;
export const DriftSchema = z.array(DriftItemSchema);

/** Compares desired and actual values field by field (arrays compared as sorted sets when `unordered`). */
export function diffFields(
  pairs: { field: string; desired: unknown; actual: unknown; unordered?: boolean; skip?: boolean }[],
): DriftItem[] {
  const drift: DriftItem[] = [];
  for (const p of pairs) {
    if (p.skip) continue;
    const norm = (v: unknown) => (p.unordered && Array.isArray(v) ? [...(v as unknown[])].map(String).sort() : v);
    const desired = norm(p.desired);
    const actual = norm(p.actual);
    if (JSON.stringify(desired) !== JSON.stringify(actual)) drift.push({ field: p.field, desired, actual });
  }
  return drift;
}
