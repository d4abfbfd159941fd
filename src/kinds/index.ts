/** Every resource kind, declared explicitly (no registration by import side effects). */
import type { JobContext } from '../jobs/runner.js';
import type { ResourceType } from '../model/names.js';
import type { AnyResource } from '../model/resource-data.js';
import { attachmentKind } from './attachment.js';
import { bridgeKind } from './bridge.js';
import { hostKind } from './host.js';
import type { Observation, RemoveOptions, ResourceKind } from './kind.js';
import { tunnelKind } from './tunnel.js';
import { topologyKind } from './topology.js';

export const kinds = {
  host: hostKind,
  bridge: bridgeKind,
  attachment: attachmentKind,
  tunnel: tunnelKind,
  topology: topologyKind,
} as const satisfies { [T in ResourceType]: ResourceKind<T, unknown, Observation> };

/** A resource's kind, by its type (the one place a type picks its kind). */
export function kindOf<T extends ResourceType>(type: T): ResourceKind<T, unknown, Observation> {
  return kinds[type] as unknown as ResourceKind<T, unknown, Observation>;
}

/** A kind by a type name read from a row (null: no such kind). */
export function kindNamed(type: string): ResourceKind<ResourceType, unknown, Observation> | null {
  return Object.hasOwn(kinds, type) ? kindOf(type as ResourceType) : null;
}

/** Any resource's hosts, through its kind. */
export function hostsOf(r: AnyResource): string[] {
  return kindOf(r.type).hosts(r);
}

/** Removes any resource through its kind (cascades). */
export function removeAny(ctx: JobContext, r: AnyResource, opts: RemoveOptions): Promise<void> {
  return kindOf(r.type).remove(ctx, r, opts);
}
