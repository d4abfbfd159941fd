/** Tunnels: a GRE, VXLAN or Geneve link between bridges on two hosts, both ends made in one job. */
import { z } from '@hono/zod-openapi';
import { BridgeRefSchema } from './bridges.js';
import { idSchema, IfName, Labels } from './names.js';
import { DriftSchema, ResourceStateSchema, type Resource } from './resource.js';
import { LinkStateSchema, normalizeTunnelImpairment, TunnelImpairmentSchema } from './impairments.js';
import { BRIDGE_REF_PATTERN, IpAddressOut, Timestamp } from './formats.js';

export const TUNNEL_TYPES = ['gre', 'vxlan', 'geneve'] as const;
export type TunnelType = (typeof TUNNEL_TYPES)[number];

/** IANA ports; Linux's vxlan default (8472) is not what OVS or anyone else uses, so Linux ends always get one explicitly. */
export const DEFAULT_DST_PORT = { vxlan: 4789, geneve: 6081 } as const;
export const MAX_GRE_KEY = 2 ** 32 - 1;
export const MAX_VNI = 2 ** 24 - 1;

export const TunnelEndpointRequestSchema = z
  .object({
    bridge: z
      .string()
      .min(1)
      .max(96)
      .openapi({ pattern: BRIDGE_REF_PATTERN, description: 'bridge id or "host/name"', example: 'docker1/ovs_bridge' }),
    portName: IfName.optional().openapi({
      description:
        'the tunnel port (OVS) or device (Linux) on that bridge; default `<type>-<other host>`, ≤ 15 bytes, made unique on the host',
      example: 'gre-docker3',
    }),
  })
  .strict()
  .openapi('TunnelEndpointRequest');

export const TunnelCreateSchema = z
  .object({
    type: z.enum(TUNNEL_TYPES).openapi({ description: 'encapsulation' }),
    endpoints: z
      .array(TunnelEndpointRequestSchema)
      .length(2, 'exactly two endpoints: one bridge on each host')
      .openapi({ minItems: 2, maxItems: 2, description: 'one bridge on each of two hosts' }),
    key: z.number().int().min(0).max(MAX_GRE_KEY).optional().openapi({
      description:
        'GRE key (0–4294967295) or VNI (vxlan/geneve, 0–16777215). Default: none for GRE, VNI 0. GRE key 0 means no key, as in OVS.',
    }),
    dstPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .openapi({ description: 'UDP destination port, vxlan/geneve only (default 4789 / 6081)' }),
    labels: Labels.default({}),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.key !== undefined && b.type !== 'gre' && b.key > MAX_VNI) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: `a ${b.type} VNI is 24 bits: 0-${MAX_VNI}` });
    }
    if (b.dstPort !== undefined && b.type === 'gre') {
      ctx.addIssue({ code: 'custom', path: ['dstPort'], message: 'GRE has no UDP port; dstPort is for vxlan and geneve' });
    }
  })
  .openapi('TunnelCreate', {
    example: { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] },
  });
export type TunnelCreate = z.infer<typeof TunnelCreateSchema>;

/** One end as stored. */
export const TunnelEndpointDataSchema = BridgeRefSchema.extend({
  portName: z.string(),
  /** This host's tunnelIp (the source the other end expects). */
  localIp: z.string(),
  /** The other host's tunnelIp. */
  remoteIp: z.string(),
  /** The bridge's MTU (or 1500) minus the encapsulation overhead. */
  overlayMtu: z.number(),
});
export type TunnelEndpointData = z.infer<typeof TunnelEndpointDataSchema>;

/** What the store keeps for a tunnel (parsed on every read). */
export const TunnelDataSchema = z.object({
  type: z.enum(TUNNEL_TYPES),
  /** GRE key or VNI as requested (null: no GRE key / VNI 0). */
  key: z.number().nullable(),
  /** As requested (null: the type's default port). */
  dstPort: z.number().nullable(),
  endpoints: z.tuple([TunnelEndpointDataSchema, TunnelEndpointDataSchema]),
  /** The lower of the two ends: what fits through the tunnel both ways. */
  overlayMtu: z.number(),
  labels: z.record(z.string(), z.string()),
  /** Tunnel ports never forward to each other (OVS protected ports, Linux isolated bridge ports): a full mesh without loops. */
  splitHorizon: z.boolean().optional(),
  /** The topology that owns it (it changes only through that topology). */
  topology: z.string().optional(),
  /** Impairments per direction on Linux ends (absent: none). */
  impairment: TunnelImpairmentSchema.optional(),
  /** The tunnel cut both ways or not (absent: up). */
  link: LinkStateSchema.optional(),
});
export type TunnelData = z.infer<typeof TunnelDataSchema>;

export function effectiveDstPort(d: Pick<TunnelData, 'type' | 'dstPort'>): number | null {
  return d.type === 'gre' ? null : (d.dstPort ?? DEFAULT_DST_PORT[d.type]);
}

/**
 * `gre-docker3`: type + the other host's name, cut to 15 bytes (host names are ASCII), then `-2`, `-3`, …
 * until it is free on the host. Host names only hold [A-Za-z0-9_.-], so the result is a valid IfName.
 */
export function defaultPortName(type: TunnelType, otherHost: string, taken: ReadonlySet<string>): string {
  const base = `${type}-${otherHost}`.slice(0, 15);
  if (!taken.has(base)) return base;
  for (let i = 2; i < 1000; i++) {
    const suffix = `-${i}`;
    const name = base.slice(0, 15 - suffix.length) + suffix;
    if (!taken.has(name)) return name;
  }
  throw new Error(`no free tunnel port name for ${base}`);
}

// ---- views

export const TunnelEndObservationSchema = z
  .object({
    hostName: z.string(),
    portName: z.string(),
    exists: z.boolean(),
    owner: z.string().nullable().openapi({ description: 'the netplumb id marked on it (external_ids:netplumb-id or alias netplumb:<id>)' }),
    bridge: z.string().nullable().openapi({ description: 'the bridge it is a port of (OVS port-to-br, Linux master)' }),
    kind: z.string().nullable().openapi({ description: 'OVS Interface type or Linux link kind (gre, vxlan, geneve, gretap)' }),
    options: z
      .record(z.string(), z.string())
      .openapi({ description: 'OVS: Interface options as set. Linux: remote_ip, local_ip, key, dst_port read from the device' }),
    ofport: z.number().nullable().openapi({ description: 'OVS only: the OpenFlow port (-1 when OVS could not create it)' }),
    error: z.string().nullable().openapi({ description: 'OVS only: the Interface error column' }),
    linkState: z.string().nullable().openapi({ description: 'OVS link_state, or the Linux operstate' }),
    up: z.boolean().nullable().openapi({ description: 'administratively up (OVS admin_state, Linux UP flag)' }),
    mtu: z.number().nullable(),
    drift: DriftSchema,
  })
  .openapi('TunnelEndObservation');
export type TunnelEndObservation = z.infer<typeof TunnelEndObservationSchema>;

export const TunnelEndpointSchema = z
  .object({
    bridge: idSchema('bridge', 'bridge id'),
    bridgeName: z.string().openapi({ example: 'ovs_bridge' }),
    bridgeType: z.enum(['ovs', 'linux']),
    host: idSchema('host', 'host id'),
    hostName: z.string().openapi({ example: 'docker1' }),
    portName: z.string().openapi({ example: 'gre-docker3' }),
    localIp: IpAddressOut.openapi({ description: "this host's tunnelIp", example: '10.10.10.101' }),
    remoteIp: IpAddressOut.openapi({ description: "the other host's tunnelIp (remote_ip)", example: '192.168.50.101' }),
    overlayMtu: z.number().openapi({ description: "this bridge's MTU (1500 when unset) minus the encapsulation overhead", example: 1462 }),
  })
  .openapi('TunnelEndpoint');

export const TunnelSchema = z
  .object({
    id: idSchema('tunnel'),
    type: z.enum(TUNNEL_TYPES),
    key: z.number().nullable().openapi({ description: 'GRE key or VNI as requested (null: no GRE key / VNI 0)' }),
    dstPort: z.number().nullable().openapi({ description: 'UDP port in use (vxlan/geneve), null for GRE' }),
    endpoints: z.array(TunnelEndpointSchema),
    overlayMtu: z.number().openapi({
      description:
        'the lower of the two ends: the MTU that fits through the tunnel both ways; also set as overlayMtu on both bridges (lowest of their tunnels)',
      example: 1462,
    }),
    labels: z.record(z.string(), z.string()),
    impairment: TunnelImpairmentSchema.required().openapi({ description: 'per direction; `{}`: not impaired' }),
    link: LinkStateSchema,
    state: ResourceStateSchema,
    jobId: idSchema('job').nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    observed: z
      .object({
        observedAt: Timestamp,
        endpoints: z.array(TunnelEndObservationSchema),
        drift: DriftSchema.openapi({ description: "every end's drift, fields prefixed with the end's host name" }),
      })
      .optional(),
  })
  .openapi('Tunnel');
export type TunnelView = z.infer<typeof TunnelSchema>;

export function renderTunnel(r: Resource<TunnelData>): TunnelView {
  const d = r.data;
  return {
    id: r.id,
    type: d.type,
    key: d.key,
    dstPort: effectiveDstPort(d),
    endpoints: d.endpoints.map((e) => ({
      bridge: e.bridgeId,
      bridgeName: e.bridgeName,
      bridgeType: e.bridgeType,
      host: e.hostId,
      hostName: e.hostName,
      portName: e.portName,
      localIp: e.localIp,
      remoteIp: e.remoteIp,
      overlayMtu: e.overlayMtu,
    })),
    overlayMtu: d.overlayMtu,
    labels: d.labels,
    impairment: normalizeTunnelImpairment(d.impairment),
    link: d.link ?? 'up',
    state: r.state,
    jobId: r.jobId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export const TunnelPatchSchema = z
  .object({
    impairment: TunnelImpairmentSchema.nullable()
      .optional()
      .openapi({ description: 'replaces the impairments whole (null: none either way)' }),
    link: LinkStateSchema.optional().openapi({ description: "down: both ends' tunnel devices go down (Linux ends only)" }),
  })
  .strict()
  .refine((b) => b.impairment !== undefined || b.link !== undefined, 'give impairment or link')
  .openapi('TunnelPatch', {
    description: 'Live changes; the tunnel is not re-created.',
    example: { impairment: { aToB: { lossPercent: 5 }, bToA: { rateMbit: 10 } } },
  });
export type TunnelPatch = z.infer<typeof TunnelPatchSchema>;
