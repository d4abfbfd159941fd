/** The stored data schema of every resource kind, by type: what the store's JSON is parsed with on every read. */
import type { z } from '@hono/zod-openapi';
import { AttachmentDataSchema } from './attachments.js';
import { BridgeDataSchema } from './bridges.js';
import { HostDataSchema } from './hosts.js';
import type { ResourceType } from './names.js';
import type { Resource } from './resource.js';
import { TunnelDataSchema } from './tunnels.js';
import { TopologyDataSchema } from './topologies.js';

export const ResourceDataSchemas = {
  host: HostDataSchema,
  bridge: BridgeDataSchema,
  attachment: AttachmentDataSchema,
  tunnel: TunnelDataSchema,
  topology: TopologyDataSchema,
} as const satisfies Record<ResourceType, z.ZodType>;

export type DataOf<T extends ResourceType> = z.infer<(typeof ResourceDataSchemas)[T]>;

/** Any resource, discriminated by its type. */
export type AnyResource = { [T in ResourceType]: Resource<DataOf<T>> & { type: T } }[ResourceType];
