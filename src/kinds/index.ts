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

/** Any resource's hosts, through its kind. */
export function hostsOf(r: AnyResource): string[] {
  switch (r.type) {
    case 'host':
      return hostKind.hosts(r);
    case 'bridge':
      return bridgeKind.hosts(r);
    case 'attachment':
      return attachmentKind.hosts(r);
    case 'tunnel':
      return tunnelKind.hosts(r);
    case 'topology':
      return topologyKind.hosts(r);
  }
}

/** Removes any resource through its kind (cascades). */
export function removeAny(ctx: JobContext, r: AnyResource, opts: RemoveOptions): Promise<void> {
  switch (r.type) {
    case 'host':
      return hostKind.remove(ctx, r, opts);
    case 'bridge':
      return bridgeKind.remove(ctx, r, opts);
    case 'attachment':
      return attachmentKind.remove(ctx, r, opts);
    case 'tunnel':
      return tunnelKind.remove(ctx, r, opts);
    case 'topology':
      return topologyKind.remove(ctx, r, opts);
  }
}
