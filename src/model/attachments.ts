/** Attachments: a veth pair from a bridge into a container, a named netns or a pid's namespace. */
import { z } from '@hono/zod-openapi';
import { Cidr, IpAddress, Mac, Mtu } from './net.js';
import { ContainerRef, idSchema, IfName, Labels, NetnsName } from './names.js';
import { DriftSchema, ResourceStateSchema, type Resource } from './resource.js';
import { BridgeRefSchema } from './bridges.js';
import { AttachmentImpairmentSchema, LinkStateSchema, normalizeAttachmentImpairment } from './impairments.js';

export const TargetSchema = z
  .union([
    z.object({ container: ContainerRef }).strict(),
    z.object({ netns: NetnsName }).strict(),
    z.object({ pid: z.number().int().min(1).max(4_194_304) }).strict(),
  ])
  .openapi('AttachmentTarget', {
    description: "exactly one of container (name or id, via Docker on the bridge's host), netns (a named namespace), pid",
    example: { container: 'web1' },
  });
export type Target = z.infer<typeof TargetSchema>;

export const RouteSchema = z
  .object({ to: Cidr, via: IpAddress.optional() })
  .strict()
  .openapi('Route', { example: { to: '10.20.0.0/16', via: '10.11.12.1' } });

export const AttachmentCreateSchema = z
  .object({
    bridge: z.string().min(1).max(96).openapi({ description: 'bridge id or "host/name"', example: 'docker1/ovs_bridge' }),
    target: TargetSchema,
    ifname: IfName.optional().openapi({
      description: 'interface name inside the target (default eth1, or the next free ethN)',
      example: 'eth1',
    }),
    hostIfname: IfName.optional().openapi({ description: 'host end name (default derived from the attachment id)' }),
    addresses: z
      .array(Cidr)
      .max(32)
      .default([])
      .refine((a) => new Set(a).size === a.length, 'the same address twice')
      .openapi({ example: ['10.11.12.100/24'] }),
    gateway: IpAddress.optional().openapi({
      description: "default route via this interface (a host route to it first when it lies outside the addresses' subnets)",
      example: '172.17.0.1',
    }),
    routes: z.array(RouteSchema).max(64).default([]),
    mac: Mac.optional(),
    mtu: Mtu.optional().openapi({ description: "default: the overlay MTU of tunnels on the bridge, else the bridge's MTU" }),
    vlan: z.number().int().min(1).max(4094).optional().openapi({ description: 'OVS access VLAN tag (OVS bridges only)' }),
    labels: Labels.default({}),
    impairment: AttachmentImpairmentSchema.optional(),
    link: LinkStateSchema.optional().openapi({ description: 'down: attach with the cable pulled (default up)' }),
  })
  .strict()
  .openapi('AttachmentCreate', {
    example: { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] },
  });
export type AttachmentCreate = z.infer<typeof AttachmentCreateSchema>;

/** What `?observe=true` reads for an attachment: the target, both veth ends, and the drift (one shape for every kind). */
export const AttachmentObservationSchema = z
  .object({
    observedAt: z.string(),
    target: z.object({
      running: z.boolean().nullable().openapi({ description: 'null: not a container target' }),
      pid: z.number().nullable(),
      containerId: z.string().nullable(),
      netnsPath: z.string().nullable(),
    }),
    hostEnd: z.object({
      exists: z.boolean(),
      owner: z.string().nullable(),
      bridge: z.string().nullable(),
      up: z.boolean().nullable(),
      operstate: z.string().nullable().openapi({ description: 'carrier: `up` when both ends are up' }),
      mtu: z.number().nullable(),
      vlan: z.number().nullable(),
      error: z.string().nullable(),
    }),
    inside: z.object({
      exists: z.boolean(),
      paired: z.boolean().openapi({ description: "the inner end is the host end's veth peer" }),
      up: z.boolean().nullable(),
      mtu: z.number().nullable(),
      mac: z.string().nullable(),
      addresses: z.array(z.string()),
      routes: z.array(z.string()),
    }),
    impairment: AttachmentImpairmentSchema.required()
      .optional()
      .openapi({ description: 'what the qdiscs and loss rules on the host do now (absent while the target is stopped)' }),
    link: LinkStateSchema.nullable().optional().openapi({ description: 'the cable: the bridge end up or down (null: it is missing)' }),
    drift: DriftSchema,
  })
  .openapi('AttachmentObservation');
export type AttachmentObservation = z.infer<typeof AttachmentObservationSchema>;

export const ResolvedTargetSchema = z.object({
  pid: z.number().nullable(),
  containerId: z.string().nullable(),
  containerName: z.string().nullable(),
  netnsPath: z.string(),
});

/** What the store keeps for an attachment (parsed on every read). */
export const AttachmentDataSchema = BridgeRefSchema.extend({
  target: TargetSchema,
  /** Filled by the job: how the target was found. */
  resolved: ResolvedTargetSchema.nullable(),
  /** As requested (null = pick eth1 or the next free ethN in the job). */
  ifname: z.string().nullable(),
  hostIfname: z.string(),
  addresses: z.array(z.string()),
  gateway: z.string().nullable(),
  routes: z.array(z.object({ to: z.string(), via: z.string().optional() })),
  mac: z.string().nullable(),
  mtu: z.number().nullable(),
  vlan: z.number().nullable(),
  /** True when the job switched off tx checksum offload inside (netdev datapath). */
  txChecksumOffloadOff: z.boolean(),
  labels: z.record(z.string(), z.string()),
  /** For list filters. */
  container: z.string().nullable(),
  /** The MAC the inner end was made with when none was requested: a re-attach (container restart, repair) keeps it. */
  assignedMac: z.string().nullable().default(null),
  /** The topology that owns it (it changes only through that topology). */
  topology: z.string().optional(),
  /** Impairments per direction (absent: none; records from before impairments existed have none). */
  impairment: AttachmentImpairmentSchema.optional(),
  /** The cable (absent: up). */
  link: LinkStateSchema.optional(),
});
export type AttachmentData = z.infer<typeof AttachmentDataSchema>;

export const AttachmentSchema = z
  .object({
    id: idSchema('attachment'),
    bridge: idSchema('bridge'),
    bridgeName: z.string(),
    host: idSchema('host'),
    hostName: z.string(),
    target: TargetSchema,
    resolved: ResolvedTargetSchema.nullable(),
    ifname: z.string().nullable(),
    hostIfname: z.string(),
    addresses: z.array(z.string()),
    gateway: z.string().nullable(),
    routes: z.array(z.object({ to: z.string(), via: z.string().optional() })),
    mac: z.string().nullable(),
    mtu: z.number().nullable(),
    vlan: z.number().nullable(),
    txChecksumOffloadOff: z
      .boolean()
      .openapi({ description: 'transmit checksum offload switched off inside (needed for TCP on the netdev datapath)' }),
    labels: z.record(z.string(), z.string()),
    impairment: AttachmentImpairmentSchema.required().openapi({
      description: 'per direction; `{}` in a direction: not impaired',
      example: { toContainer: { lossPercent: 30 }, fromContainer: {} },
    }),
    link: LinkStateSchema,
    state: ResourceStateSchema,
    jobId: idSchema('job').nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    observed: AttachmentObservationSchema.optional(),
  })
  .openapi('Attachment');
export type AttachmentView = z.infer<typeof AttachmentSchema>;

export function renderAttachment(r: Resource<AttachmentData>): AttachmentView {
  const d = r.data;
  return {
    id: r.id,
    bridge: d.bridgeId,
    bridgeName: d.bridgeName,
    host: d.hostId,
    hostName: d.hostName,
    target: d.target,
    resolved: d.resolved,
    ifname: d.ifname,
    hostIfname: d.hostIfname,
    addresses: d.addresses,
    gateway: d.gateway,
    routes: d.routes,
    mac: d.mac,
    mtu: d.mtu,
    vlan: d.vlan,
    txChecksumOffloadOff: d.txChecksumOffloadOff,
    labels: d.labels,
    impairment: normalizeAttachmentImpairment(d.impairment),
    link: d.link ?? 'up',
    state: r.state,
    jobId: r.jobId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** Host end name from the id: `np` + the id's 12 random characters (15-byte limit). */
export function defaultHostIfname(id: string): string {
  return `np${id.slice(-12)}`;
}

export const AttachmentPatchSchema = z
  .object({
    impairment: AttachmentImpairmentSchema.nullable()
      .optional()
      .openapi({ description: 'replaces the impairments whole (null: none in either direction)' }),
    link: LinkStateSchema.optional(),
  })
  .strict()
  .refine((b) => b.impairment !== undefined || b.link !== undefined, 'give impairment or link')
  .openapi('AttachmentPatch', {
    description: 'Live changes with no re-attach: the veth, its addresses and routes stay as they are.',
    example: { impairment: { toContainer: { lossPercent: 30 }, fromContainer: { rateMbit: 5 } } },
  });
export type AttachmentPatch = z.infer<typeof AttachmentPatchSchema>;
