/** How a re-attach writes its outcome onto an attachment record someone changed while it ran. */
import type { AttachmentData } from '../model/attachments.js';
import type { Resource, ResourceState } from '../model/resource.js';
import { withLease } from '../ops/dhcp.js';

/**
 * What a repair owns of an attachment record (where and how it is attached now: interface, namespace, lease) merged
 * into the record as it is now: a PATCH accepted while the repair ran keeps its routes, rules, gateway and
 * impairments, and its own job (the record stays `pending` for it) applies them in the new namespace.
 */
export function rebaseReattached<D extends AttachmentData>(
  current: Resource<D>,
  owned: Partial<D>,
  lease: Parameters<typeof withLease>[1],
): { data: D; state?: ResourceState } {
  return {
    data: withLease({ ...current.data, ...owned }, lease),
    ...(current.state === 'pending' || current.state === 'deleting' ? {} : { state: 'ready' as const }),
  };
}
