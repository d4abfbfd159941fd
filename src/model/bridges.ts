/** Bridges: OVS or Linux bridges that netplumb owns on a host. */
import { z } from '@hono/zod-openapi';
import { Cidr, Mtu } from './net.js';
import { HostName, IfName, Labels } from './names.js';
import { DriftSchema, ResourceStateSchema, type Resource } from './resource.js';
import { idPattern, idSchema } from './names.js';
import { CidrOut, Timestamp } from './formats.js';

export const HostRef = z.string().min(1).max(64).openapi({ description: 'a host id or name', example: 'docker1' });

const Addresses = z
  .array(Cidr)
  .max(64)
  .refine((a) => new Set(a).size === a.length, 'the same address twice')
  .openapi({ example: ['10.11.12.1/24'] });

export const BridgeCreateSchema = z
  .object({
    host: z.union([HostName, z.string().max(40).regex(idPattern('host'))]).openapi({ description: 'host id or name', example: 'docker1' }),
    name: IfName,
    type: z.enum(['ovs', 'linux']).default('ovs'),
    datapathType: z
      .enum(['auto', 'system', 'netdev'])
      .default('auto')
      .openapi({ description: 'OVS only. auto = system when the host has the kernel datapath, else netdev (userspace)' }),
    addresses: Addresses.default([]),
    mtu: Mtu.optional(),
    stp: z.boolean().default(false),
    adopt: z
      .boolean()
      .default(false)
      .openapi({ description: 'take over a bridge of this name that already exists on the host (and mark it)' }),
    labels: Labels.default({}),
  })
  .strict()
  .openapi('BridgeCreate', { example: { host: 'docker1', name: 'ovs_bridge', type: 'ovs', addresses: ['10.11.12.1/24'] } });
export type BridgeCreate = z.infer<typeof BridgeCreateSchema>;

export const BridgePatchSchema = z
  .object({
    addresses: Addresses.optional(),
    mtu: Mtu.optional(),
    stp: z.boolean().optional(),
    labels: Labels.optional(),
  })
  .strict()
  .openapi('BridgePatch', { example: { addresses: ['10.11.12.1/24', 'fd00:11:12::1/64'], mtu: 1450 } });

/** What the store keeps for a bridge (parsed on every read). */
export const BridgeDataSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  name: z.string(),
  type: z.enum(['ovs', 'linux']),
  /** Resolved: never "auto" once stored; null for Linux bridges. */
  datapathType: z.enum(['system', 'netdev']).nullable(),
  addresses: z.array(z.string()),
  mtu: z.number().nullable(),
  stp: z.boolean(),
  labels: z.record(z.string(), z.string()),
  /** Set by the tunnels on this bridge: the MTU left for attachments (null: no tunnel). */
  overlayMtu: z.number().nullable(),
  adopted: z.boolean(),
  /** The topology that owns it (it changes only through that topology). */
  topology: z.string().optional(),
});
export type BridgeData = z.infer<typeof BridgeDataSchema>;

/** What a resource made on a bridge (attachment, tunnel end) keeps of it: enough to plan and log without a lookup. */
export const BridgeRefSchema = z.object({
  bridgeId: z.string(),
  bridgeName: z.string(),
  bridgeType: z.enum(['ovs', 'linux']),
  datapathType: z.enum(['system', 'netdev']).nullable(),
  hostId: z.string(),
  hostName: z.string(),
});
export type BridgeRef = z.infer<typeof BridgeRefSchema>;

export function bridgeRef(r: Resource<BridgeData>): BridgeRef {
  const b = r.data;
  return { bridgeId: r.id, bridgeName: b.name, bridgeType: b.type, datapathType: b.datapathType, hostId: b.hostId, hostName: b.hostName };
}

export const BridgeObservationSchema = z
  .object({
    observedAt: Timestamp,
    exists: z.boolean(),
    up: z.boolean().nullable(),
    addresses: z.array(CidrOut),
    mtu: z.number().nullable(),
    datapathType: z.string().nullable(),
    owner: z
      .string()
      .nullable()
      .openapi({ description: 'the netplumb id marked on the bridge (external_ids:netplumb-id or alias netplumb:<id>)' }),
    ports: z.array(
      z.object({
        name: z.string(),
        owner: z.string().nullable(),
        type: z.string().nullable(),
        error: z.string().nullable().optional().openapi({ description: "OVS's error for the port's interface (e.g. its device is gone)" }),
      }),
    ),
    drift: DriftSchema,
  })
  .openapi('BridgeObservation');
export type BridgeObservation = z.infer<typeof BridgeObservationSchema>;

export const BridgeSchema = z
  .object({
    id: idSchema('bridge'),
    host: idSchema('host', 'host id'),
    hostName: z.string(),
    name: z.string(),
    type: z.enum(['ovs', 'linux']),
    datapathType: z.enum(['system', 'netdev']).nullable(),
    addresses: z.array(CidrOut),
    mtu: z.number().nullable(),
    stp: z.boolean(),
    overlayMtu: z.number().nullable().openapi({ description: 'MTU left for attachments once tunnels use this bridge' }),
    adopted: z.boolean(),
    labels: z.record(z.string(), z.string()),
    state: ResourceStateSchema,
    jobId: idSchema('job').nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    observed: BridgeObservationSchema.optional(),
  })
  .openapi('Bridge');
export type BridgeView = z.infer<typeof BridgeSchema>;

export function renderBridge(r: Resource<BridgeData>): BridgeView {
  const d = r.data;
  return {
    id: r.id,
    host: d.hostId,
    hostName: d.hostName,
    name: d.name,
    type: d.type,
    datapathType: d.datapathType,
    addresses: d.addresses,
    mtu: d.mtu,
    stp: d.stp,
    overlayMtu: d.overlayMtu,
    adopted: d.adopted,
    labels: d.labels,
    state: r.state,
    jobId: r.jobId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
