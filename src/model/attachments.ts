/**
 * Attachments: a container, a named netns or a pid's namespace on the network, every way pipework offers — a veth
 * pair from a bridge (type veth), a macvlan or ipvlan sub-interface of a host NIC, or the NIC itself moved in (phys,
 * pipework's --direct-phys); addresses static, none, or from DHCP.
 */
import { z } from '@hono/zod-openapi';
import { Cidr, IpAddress, ipFamily, Mac, Mtu } from './net.js';
import { ContainerRef, idSchema, IfName, Labels, NetnsName } from './names.js';
import { DriftSchema, ResourceStateSchema, type Resource } from './resource.js';
import { BridgeRefSchema } from './bridges.js';
import { AttachmentImpairmentSchema, LinkStateSchema, normalizeAttachmentImpairment } from './impairments.js';
import { BRIDGE_REF_PATTERN, CidrOut, IpAddressOut, MacOut, REF_PATTERN, Timestamp } from './formats.js';

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

/** A routing table: a number (1–4294967295, not 0) or one of the kernel's named ones. */
export const RouteTable = z
  .union([z.number().int().min(1).max(4_294_967_295), z.enum(['main', 'local', 'default'])])
  .openapi({ description: 'routing table: a number or main, local, default', example: 100 });

export const RouteSchema = z
  .object({
    to: Cidr,
    via: IpAddress.optional(),
    table: RouteTable.optional().openapi({ description: 'default: main' }),
  })
  .strict()
  .refine((r) => r.via === undefined || ipFamily(r.via) === ipFamily(r.to), { message: 'via must be the family of to', path: ['via'] })
  .openapi('Route', { example: { to: '10.20.0.0/16', via: '10.11.12.1' } });
export type Route = z.infer<typeof RouteSchema>;

/** pipework's `rule`: a policy routing rule inside the target (`ip rule add …`). */
export const RuleSchema = z
  .object({
    priority: z.number().int().min(1).max(32765).openapi({
      description:
        'required: `ip rule del` treats what is left out as a wildcard, so netplumb removes exactly its own rules only when each has its priority',
    }),
    from: Cidr.optional().openapi({ description: 'source prefix (default all)' }),
    to: Cidr.optional().openapi({ description: 'destination prefix (default all)' }),
    fwmark: z.number().int().min(1).max(4_294_967_295).optional(),
    table: RouteTable,
  })
  .strict()
  .refine((r) => r.from === undefined || r.to === undefined || ipFamily(r.from) === ipFamily(r.to), {
    message: 'from and to of one rule must be the same family',
    path: ['to'],
  })
  .openapi('Rule', { example: { from: '10.11.12.100/32', table: 100, priority: 1000 } });
export type Rule = z.infer<typeof RuleSchema>;

/** How the interface inside the target is made. */
export const AttachmentTypeSchema = z.enum(['veth', 'macvlan', 'ipvlan', 'phys']).openapi('AttachmentType', {
  description:
    'veth: a veth pair from `bridge` (default); macvlan / ipvlan: a sub-interface of the host NIC `parent`; phys: the NIC `parent` itself moved into the target (pipework --direct-phys) and moved back on delete',
});
export type AttachmentType = z.infer<typeof AttachmentTypeSchema>;

export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export const IPVLAN_MODES = ['l2', 'l3', 'l3s'] as const;

/** A host NIC: its name, or `mac:` and its MAC (pipework's `mac:<hostinterface_macaddress>`). */
export const ParentRef = z
  .string()
  .min(1)
  .max(32)
  .refine((s) => (s.startsWith('mac:') ? Mac.safeParse(s.slice(4)).success : IfName.safeParse(s).success), {
    message: 'a host interface name, or mac: and its MAC address',
  })
  .openapi({
    pattern: '^(?:mac:[0-9A-Fa-f:]{17}|[A-Za-z0-9_][A-Za-z0-9_.-]*)$',
    description: 'the host NIC: its name, or `mac:` and its MAC',
    example: 'eth0',
  });

/** pipework's `U:<seed>`: 02 and the first five bytes of md5(seed + newline), so the same seed gives the same MAC. */
export const MacSeed = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
  .openapi({ description: "pipework's U:<seed>: the MAC is derived from it (the same seed gives the same MAC)", example: 'web1-eth1' });

/** The lease a DHCP client got for the attachment, as its client reported it. */
export const DhcpLeaseSchema = z
  .object({
    address: CidrOut.openapi({ example: '10.11.12.150/24' }),
    router: IpAddressOut.nullable(),
    server: IpAddressOut.nullable(),
    leaseSeconds: z.number().nullable(),
    obtainedAt: Timestamp,
  })
  .openapi('DhcpLease');
export type DhcpLease = z.infer<typeof DhcpLeaseSchema>;

export const DHCP_CLIENTS = ['udhcpc', 'dhclient', 'dhcpcd'] as const;
export const DhcpClientSchema = z.enum(DHCP_CLIENTS);

export const AttachmentCreateSchema = z
  .object({
    type: AttachmentTypeSchema.optional().openapi({ description: 'default: veth with `bridge`, macvlan with `parent`' }),
    bridge: z
      .string()
      .min(1)
      .max(96)
      .optional()
      .openapi({ pattern: BRIDGE_REF_PATTERN, description: 'bridge id or "host/name" (type veth)', example: 'docker1/ovs_bridge' }),
    host: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ pattern: REF_PATTERN, description: 'host id or name (types macvlan, ipvlan, phys)', example: 'docker1' }),
    parent: ParentRef.optional(),
    mode: z
      .enum([...MACVLAN_MODES, ...IPVLAN_MODES])
      .optional()
      .openapi({ description: 'macvlan: bridge (default), private, vepa, passthru; ipvlan: l2 (default), l3, l3s' }),
    target: TargetSchema,
    ifname: IfName.optional().openapi({
      description: 'interface name inside the target (default eth1, or the next free ethN)',
      example: 'eth1',
    }),
    hostIfname: IfName.optional().openapi({ description: 'host end name (default derived from the attachment id)' }),
    addresses: z
      .union([
        z
          .array(Cidr)
          .max(32)
          .refine((a) => new Set(a).size === a.length, 'the same address twice'),
        z.literal('dhcp'),
      ])
      .default([])
      .openapi({
        description:
          'CIDRs (v4 and v6, dual stack on one interface); [] for the link only (pipework 0/0); "dhcp": leased by a DHCP client the host runs in the target',
        example: ['10.11.12.100/24'],
      }),
    dhcpClient: DhcpClientSchema.optional().openapi({
      description: 'with addresses "dhcp": which client (default: the first the host has)',
    }),
    gateway: IpAddress.optional().openapi({
      description: "default route via this interface (a host route to it first when it lies outside the addresses' subnets)",
      example: '172.17.0.1',
    }),
    routes: z.array(RouteSchema).max(64).default([]),
    rules: z.array(RuleSchema).max(64).default([]).openapi({ description: 'policy routing rules inside the target (pipework rule)' }),
    mac: Mac.optional(),
    macSeed: MacSeed.optional(),
    mtu: Mtu.optional().openapi({ description: "default: the overlay MTU of tunnels on the bridge, else the bridge's MTU" }),
    vlan: z.number().int().min(1).max(4094).optional().openapi({
      description:
        "pipework's @vlan: the OVS access tag (veth on an OVS bridge), or the parent's 802.1Q sub-interface (macvlan, ipvlan, phys)",
    }),
    labels: Labels.default({}),
    impairment: AttachmentImpairmentSchema.optional(),
    link: LinkStateSchema.optional().openapi({ description: 'down: attach with the cable pulled (default up)' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    const type = b.type ?? (b.parent !== undefined ? 'macvlan' : 'veth');
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (type === 'veth') {
      if (b.bridge === undefined) issue('bridge', 'a veth attachment needs a bridge');
      if (b.parent !== undefined) issue('parent', 'a veth attachment hangs off a bridge, not a parent NIC');
      if (b.host !== undefined) issue('host', "a veth attachment's host is its bridge's");
      if (b.mode !== undefined) issue('mode', 'a mode is for macvlan and ipvlan');
    } else {
      if (b.parent === undefined) issue('parent', `a ${type} attachment needs the host NIC it uses`);
      if (b.host === undefined) issue('host', `a ${type} attachment needs the host of its parent NIC`);
      if (b.bridge !== undefined) issue('bridge', `a ${type} attachment uses a parent NIC, not a bridge`);
      if (b.hostIfname !== undefined) issue('hostIfname', `a ${type} attachment has no host end`);
      if (b.impairment !== undefined) issue('impairment', 'impairments need a veth attachment (they act on its host end)');
      if (b.link !== undefined) issue('link', 'pulling the cable needs a veth attachment');
      const modes: readonly string[] = type === 'macvlan' ? MACVLAN_MODES : type === 'ipvlan' ? IPVLAN_MODES : [];
      if (b.mode !== undefined && !modes.includes(b.mode))
        issue('mode', modes.length ? `${type} modes: ${modes.join(', ')}` : `a ${type} attachment has no mode`);
    }
    if (b.mac !== undefined && b.macSeed !== undefined) issue('macSeed', 'give mac or macSeed, not both');
    if (type === 'ipvlan' && (b.mac !== undefined || b.macSeed !== undefined))
      issue(b.mac !== undefined ? 'mac' : 'macSeed', "an ipvlan sub-interface has its parent's MAC");
    if (b.dhcpClient !== undefined && b.addresses !== 'dhcp') issue('dhcpClient', 'a DHCP client is for addresses "dhcp"');
    if (type === 'macvlan' && b.mode === 'passthru' && (b.mac !== undefined || b.macSeed !== undefined))
      issue(b.mac !== undefined ? 'mac' : 'macSeed', "a passthru macvlan has its NIC's MAC (setting one would change the NIC's)");
    if (type === 'ipvlan' && b.addresses === 'dhcp')
      issue('addresses', "an ipvlan sub-interface has its NIC's MAC: a DHCP server would lease it the host's address");
    if (b.addresses === 'dhcp')
      b.routes.forEach((r, i) => {
        if (r.via !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'via'],
            message: 'with DHCP the next hop is reachable only once the lease is there: add this route with PATCH then',
          });
      });
    if (b.addresses === 'dhcp' && b.gateway !== undefined) issue('gateway', 'with DHCP the router comes from the lease');
  })
  .openapi('AttachmentCreate', {
    example: { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] },
  });
export type AttachmentCreate = z.infer<typeof AttachmentCreateSchema>;

/** What `?observe=true` reads for an attachment: the target, both veth ends, and the drift (one shape for every kind). */
export const AttachmentObservationSchema = z
  .object({
    observedAt: Timestamp,
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
      mac: MacOut.nullable(),
      addresses: z.array(CidrOut),
      routes: z.array(z.string()),
    }),
    impairment: AttachmentImpairmentSchema.required()
      .optional()
      .openapi({ description: 'what the qdiscs and loss rules on the host do now (absent while the target is stopped)' }),
    link: LinkStateSchema.nullable().optional().openapi({ description: 'the cable: the bridge end up or down (null: it is missing)' }),
    dhcp: z
      .object({
        client: DhcpClientSchema.nullable(),
        running: z.boolean().openapi({ description: 'the client netplumb started runs (its pid file names a live process of ours)' }),
        pid: z.number().nullable(),
        inTarget: z
          .boolean()
          .nullable()
          .openapi({ description: "it runs in the target's namespace now (false: an old one, e.g. of a restarted container)" }),
        lease: DhcpLeaseSchema.nullable().openapi({ description: "the client's lease now (its lease file)" }),
      })
      .optional()
      .openapi({ description: 'addresses "dhcp": the DHCP client netplumb runs for it' }),
    drift: DriftSchema,
  })
  .openapi('AttachmentObservation');
export type AttachmentObservation = z.infer<typeof AttachmentObservationSchema>;

/** Routes and rules as stored (already validated and canonical). */
const StoredRouteSchema = z.object({ to: z.string(), via: z.string().optional(), table: z.union([z.number(), z.string()]).optional() });
const StoredRuleSchema = z.object({
  priority: z.number().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  fwmark: z.number().optional(),
  table: z.union([z.number(), z.string()]),
});

export const ResolvedTargetSchema = z.object({
  pid: z.number().nullable(),
  containerId: z.string().nullable(),
  containerName: z.string().nullable(),
  netnsPath: z.string(),
});

/** The host NIC a macvlan / ipvlan / phys attachment uses, as the job found it. */
export const ParentDataSchema = z.object({
  /** As requested: a name or mac:<MAC>. */
  ref: z.string(),
  /** Its name on the host (for phys: the name it is given back on delete). Null until the job found it. */
  name: z.string().nullable(),
  /** Its MAC (a phys NIC is found by it again after a container's namespace went away). */
  mac: z.string().nullable(),
  /** The device the sub-interface is made on: the parent, or its 802.1Q sub-interface `<parent>.<vlan>`. */
  lower: z.string().nullable(),
  /** True when the job made that VLAN sub-interface (it goes with the last attachment using it). */
  vlanMade: z.boolean().default(false),
  /** The MTU the NIC had on the host (a phys NIC gets it back). */
  mtu: z.number().nullable().default(null),
});
export type ParentData = z.infer<typeof ParentDataSchema>;

/** What the store keeps for an attachment (parsed on every read). */
export const AttachmentDataSchema = BridgeRefSchema.extend({
  /** Records from before the other types are veth attachments. */
  type: AttachmentTypeSchema.default('veth'),
  /** The bridge fields (bridgeId …) are empty strings / null for the types without a bridge: see `type`. */
  parent: ParentDataSchema.nullable().default(null),
  mode: z.string().nullable().default(null),
  target: TargetSchema,
  /** Filled by the job: how the target was found. */
  resolved: ResolvedTargetSchema.nullable(),
  /** As requested (null = pick eth1 or the next free ethN in the job). */
  ifname: z.string().nullable(),
  hostIfname: z.string(),
  addresses: z.array(z.string()),
  gateway: z.string().nullable(),
  routes: z.array(StoredRouteSchema),
  rules: z.array(StoredRuleSchema).default([]),
  mac: z.string().nullable(),
  /** The seed `mac` was derived from (pipework U:), shown back. */
  macSeed: z.string().nullable().default(null),
  /** Null: static addresses. */
  dhcp: z.object({ client: DhcpClientSchema.nullable() }).nullable().default(null),
  /** What the DHCP client was leased (null: static, or none yet). */
  lease: DhcpLeaseSchema.nullable().default(null),
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

/** The fields a veth attachment with static addresses has beyond its bridge, target and addresses. */
export const VETH_STATIC: Readonly<Pick<AttachmentData, 'type' | 'parent' | 'mode' | 'rules' | 'macSeed' | 'dhcp' | 'lease'>> = {
  type: 'veth',
  parent: null,
  mode: null,
  rules: [],
  macSeed: null,
  dhcp: null,
  lease: null,
};

export const AttachmentSchema = z
  .object({
    id: idSchema('attachment'),
    type: AttachmentTypeSchema,
    bridge: idSchema('bridge').nullable().openapi({ description: 'null: not a veth attachment' }),
    bridgeName: z.string().nullable(),
    parent: z
      .object({ ref: z.string(), name: z.string().nullable(), mac: MacOut.nullable(), lower: z.string().nullable() })
      .nullable()
      .openapi({ description: 'macvlan / ipvlan / phys: the host NIC (lower: the device the sub-interface is on)' }),
    mode: z.string().nullable(),
    host: idSchema('host'),
    hostName: z.string(),
    target: TargetSchema,
    resolved: ResolvedTargetSchema.nullable(),
    ifname: z.string().nullable(),
    hostIfname: z.string(),
    addresses: z.array(CidrOut),
    gateway: IpAddressOut.nullable(),
    routes: z.array(RouteSchema),
    rules: z.array(RuleSchema),
    mac: MacOut.nullable(),
    macSeed: z.string().nullable(),
    dhcp: z
      .object({ client: DhcpClientSchema.nullable() })
      .nullable()
      .openapi({ description: 'null: static addresses; client null: the first the host has' }),
    lease: DhcpLeaseSchema.nullable().openapi({ description: 'the address a DHCP client was leased (also in addresses)' }),
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
    createdAt: Timestamp,
    updatedAt: Timestamp,
    observed: AttachmentObservationSchema.optional(),
  })
  .openapi('Attachment');
export type AttachmentView = z.infer<typeof AttachmentSchema>;

export function renderAttachment(r: Resource<AttachmentData>): AttachmentView {
  const d = r.data;
  return {
    id: r.id,
    type: d.type,
    bridge: d.type === 'veth' ? d.bridgeId : null,
    bridgeName: d.type === 'veth' ? d.bridgeName : null,
    parent: d.parent && { ref: d.parent.ref, name: d.parent.name, mac: d.parent.mac, lower: d.parent.lower },
    mode: d.mode,
    host: d.hostId,
    hostName: d.hostName,
    target: d.target,
    resolved: d.resolved,
    ifname: d.ifname,
    hostIfname: d.hostIfname,
    addresses: d.addresses,
    gateway: d.gateway,
    routes: d.routes as AttachmentView['routes'],
    rules: d.rules as AttachmentView['rules'],
    mac: d.mac,
    macSeed: d.macSeed,
    dhcp: d.dhcp,
    lease: d.lease,
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
    gateway: IpAddress.nullable().optional().openapi({ description: 'the default route (null: none)' }),
    routes: z.array(RouteSchema).max(64).optional().openapi({ description: 'replaces the routes whole (pipework route)' }),
    rules: z.array(RuleSchema).max(64).optional().openapi({ description: 'replaces the policy rules whole (pipework rule)' }),
  })
  .strict()
  .refine(
    (b) => b.impairment !== undefined || b.link !== undefined || b.gateway !== undefined || b.routes !== undefined || b.rules !== undefined,
    'give impairment, link, gateway, routes or rules',
  )
  .openapi('AttachmentPatch', {
    description:
      'Live changes with no re-attach: the interface and its addresses stay; routes, rules and the gateway converge to what is given (what is no longer wanted is removed, the rest added).',
    example: { impairment: { toContainer: { lossPercent: 30 }, fromContainer: { rateMbit: 5 } } },
  });
export type AttachmentPatch = z.infer<typeof AttachmentPatchSchema>;
