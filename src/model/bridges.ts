/** Bridges: OVS or Linux bridges that netplumb owns on a host. */
import { z } from '@hono/zod-openapi';
import { Cidr, Mtu } from './net.js';
import { HostName, IfName, Labels } from './names.js';
import { ResourceStateSchema } from './hosts.js';
import type { ResourceRecord } from '../store/types.js';

export const HostRef = z.string().min(1).max(64).openapi({ description: 'a host id or name', example: 'docker1' });

const Addresses = z
  .array(Cidr)
  .max(64)
  .refine((a) => new Set(a).size === a.length, 'the same address twice')
  .openapi({ example: ['10.11.12.1/24'] });

export const BridgeCreateSchema = z
  .object({
    host: z.union([HostName, z.string().regex(/^host_[a-z2-7]{20}$/)]).openapi({ description: 'host id or name', example: 'docker1' }),
    name: IfName,
    type: z.enum(['ovs', 'linux']).default('ovs'),
    datapathType: z.enum(['auto', 'system', 'netdev']).default('auto').openapi({ description: 'OVS only. auto = system when the host has the kernel datapath, else netdev (userspace)' }),
    addresses: Addresses.default([]),
    mtu: Mtu.optional(),
    stp: z.boolean().default(false),
    adopt: z.boolean().default(false).openapi({ description: 'take over a bridge of this name that already exists on the host (and mark it)' }),
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

export interface BridgeData {
  hostId: string;
  hostName: string;
  name: string;
  type: 'ovs' | 'linux';
  /** Resolved: never "auto" once stored; null for Linux bridges. */
  datapathType: 'system' | 'netdev' | null;
  addresses: string[];
  mtu: number | null;
  stp: boolean;
  labels: Record<string, string>;
  /** Set by the tunnels on this bridge: the MTU left for attachments (null: no tunnel). */
  overlayMtu: number | null;
  adopted: boolean;
}

/** What a resource made on a bridge (attachment, tunnel end) keeps of it: enough to plan and log without a lookup. */
export interface BridgeRef {
  bridgeId: string;
  bridgeName: string;
  bridgeType: 'ovs' | 'linux';
  datapathType: 'system' | 'netdev' | null;
  hostId: string;
  hostName: string;
}

export function bridgeRef(r: ResourceRecord): BridgeRef {
  const b = r.data as unknown as BridgeData;
  return { bridgeId: r.id, bridgeName: b.name, bridgeType: b.type, datapathType: b.datapathType, hostId: b.hostId, hostName: b.hostName };
}

export const BridgeObservationSchema = z
  .object({
    observedAt: z.string(),
    exists: z.boolean(),
    up: z.boolean().nullable(),
    addresses: z.array(z.string()),
    mtu: z.number().nullable(),
    datapathType: z.string().nullable(),
    owner: z.string().nullable().openapi({ description: 'the netplumb id marked on the bridge (external_ids:netplumb-id or alias netplumb:<id>)' }),
    ports: z.array(z.object({ name: z.string(), owner: z.string().nullable(), type: z.string().nullable() })),
    drift: z.array(z.object({ field: z.string(), desired: z.unknown(), actual: z.unknown() })),
  })
  .openapi('BridgeObservation');
export type BridgeObservation = z.infer<typeof BridgeObservationSchema>;

export const BridgeSchema = z
  .object({
    id: z.string().openapi({ example: 'br_01kb2xk3a7wqp4fmz3hyd2n6' }),
    host: z.string().openapi({ description: 'host id' }),
    hostName: z.string(),
    name: z.string(),
    type: z.enum(['ovs', 'linux']),
    datapathType: z.enum(['system', 'netdev']).nullable(),
    addresses: z.array(z.string()),
    mtu: z.number().nullable(),
    stp: z.boolean(),
    overlayMtu: z.number().nullable().openapi({ description: 'MTU left for attachments once tunnels use this bridge' }),
    adopted: z.boolean(),
    labels: z.record(z.string(), z.string()),
    state: ResourceStateSchema,
    jobId: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    observed: BridgeObservationSchema.optional(),
  })
  .openapi('Bridge');
export type BridgeView = z.infer<typeof BridgeSchema>;

export function renderBridge(r: ResourceRecord): BridgeView {
  const d = r.data as unknown as BridgeData;
  return {
    id: r.id, host: d.hostId, hostName: d.hostName, name: d.name, type: d.type, datapathType: d.datapathType,
    addresses: d.addresses, mtu: d.mtu, stp: d.stp, overlayMtu: d.overlayMtu, adopted: d.adopted, labels: d.labels,
    state: r.state, jobId: r.jobId, createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}
