/**
 * Topologies: a whole container network as one declarative document. The document is desired state for many
 * resources at once (bridges, tunnels, attachments across hosts); the service diffs it against what it owns under
 * the topology's name and applies the difference as one job.
 */
import { z } from '@hono/zod-openapi';
import { ContainerRef, HostName, idSchema, IfName, Labels, NetnsName, resourceIdPattern } from './names.js';
import { Cidr, IpAddress, Mac, Mtu } from './net.js';
import { DriftSchema, ResourceStateSchema } from './resource.js';
import { TUNNEL_TYPES } from './tunnels.js';
import { AttachmentImpairmentSchema, LinkStateSchema } from './impairments.js';
import { CidrOut, MacOut, Timestamp } from './formats.js';
import { TopologyDockerSchema } from './docker-plugin.js';

/** Topology and network names: they name derived objects, so they are short and plain. */
export const TopologyName = z
  .string()
  .max(32)
  .regex(/^[a-z][a-z0-9-]{0,31}$/, '1-32 of [a-z0-9-], starting with a letter')
  .openapi({ example: 'seed' });
const NetworkName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'network names: 1-32 of [a-z0-9-], starting with a letter');

const RouteSchema = z.object({ to: Cidr, via: IpAddress.optional() }).strict();

export const TopologyMemberSchema = z
  .object({
    host: HostName.openapi({ description: 'a registered host, by name' }),
    container: ContainerRef.optional(),
    netns: NetnsName.optional(),
    ifname: IfName.optional().openapi({
      description: 'interface name inside the target (default eth1, or the next free ethN at first apply; then kept)',
    }),
    address: z.union([IpAddress, Cidr]).optional().openapi({
      description:
        "the member's address (the subnet's prefix length when given bare); default: the next free one from the network's subnet, kept across re-applies",
    }),
    gateway: IpAddress.optional(),
    routes: z.array(RouteSchema).max(64).optional(),
    mac: Mac.optional().openapi({
      description: 'default: derived from the topology, network and member names (stable across re-creation)',
    }),
    mtu: Mtu.optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    impairment: AttachmentImpairmentSchema.optional().openapi({
      description: 'delay, jitter, loss, rate, … per direction (as on an attachment); changes apply in place, without re-attaching',
    }),
    link: LinkStateSchema.optional().openapi({ description: "down: the member's cable is pulled (default up)" }),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.container === undefined) === (m.netns === undefined))
      ctx.addIssue({ code: 'custom', path: ['container'], message: 'give exactly one of container or netns' });
  })
  .openapi('TopologyMember');
export type TopologyMember = z.infer<typeof TopologyMemberSchema>;

export const TopologyNetworkSchema = z
  .object({
    bridge: z
      .object({
        type: z.enum(['ovs', 'linux']).default('ovs'),
        name: IfName.optional().openapi({ description: 'default: derived from the topology and network names (unique per host)' }),
        datapathType: z.enum(['auto', 'system', 'netdev']).default('auto'),
        stp: z.boolean().default(false),
      })
      .strict()
      .default({ type: 'ovs', datapathType: 'auto', stp: false }),
    subnet: Cidr.optional().openapi({
      description: 'address pool: members and host bridges without an address get one, stable across re-applies',
    }),
    tunnel: z
      .object({
        type: z.enum(TUNNEL_TYPES).default('vxlan'),
        key: z
          .number()
          .int()
          .min(1)
          .max(2 ** 24 - 1)
          .optional()
          .openapi({ description: 'GRE key / VNI; default: allocated, unique on every host involved' }),
        dstPort: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .default({ type: 'vxlan' })
      .openapi({ description: 'joins the network across hosts (only made when members sit on more than one host)' }),
    mesh: z
      .union([z.literal('full'), z.object({ hub: HostName }).strict()])
      .default('full')
      .openapi({
        description:
          'full: a tunnel between every pair of hosts, with split horizon (no tunnel-to-tunnel forwarding); {hub}: a star around one host',
      }),
    hostAddresses: z
      .union([z.enum(['auto', 'none']), z.record(HostName, z.union([IpAddress, Cidr]))])
      .default('none')
      .openapi({
        description: "auto: each host's bridge gets an address from the subnet; or give them per host; none: bridges carry no address",
      }),
    mtu: Mtu.optional().openapi({ description: "members' MTU; default: the overlay MTU of the network's tunnels (1500 without tunnels)" }),
    members: z.array(TopologyMemberSchema).max(1024).default([]),
    docker: TopologyDockerSchema.optional().openapi({
      description:
        'publish the network to Docker on every host it spans (`docker run --network <name>`): netplumb is its network and IPAM driver; needs an IPv4 subnet',
    }),
  })
  .strict()
  .openapi('TopologyNetwork');
export type TopologyNetwork = z.infer<typeof TopologyNetworkSchema>;

export const TopologyDocumentSchema = z
  .object({
    name: TopologyName.optional().openapi({ description: 'must match the path when given' }),
    networks: z.record(NetworkName, TopologyNetworkSchema).refine((n) => Object.keys(n).length <= 64, 'at most 64 networks'),
    labels: Labels.default({}),
  })
  .strict()
  .openapi('TopologyDocument', {
    example: {
      name: 'seed',
      networks: {
        web: {
          bridge: { type: 'ovs', name: 'ovs_bridge' },
          subnet: '10.11.12.0/24',
          tunnel: { type: 'gre' },
          hostAddresses: 'auto',
          members: [
            { host: 'docker1', container: 'web1', address: '10.11.12.100' },
            { host: 'docker3', container: 'web2' },
          ],
        },
      },
    },
  });
export type TopologyDocument = z.infer<typeof TopologyDocumentSchema>;

/** Values the service chose for a topology, keyed by the document's own names (never renumbered by an edit). */
export const AllocationsSchema = z.object({
  /** `<network>/<host>/<container|netns>` → CIDR */
  memberAddresses: z.record(z.string(), CidrOut),
  /** `<network>/<host>` → CIDR */
  hostAddresses: z.record(z.string(), CidrOut),
  /** `<network>` → GRE key / VNI */
  keys: z.record(z.string(), z.number()),
  /** `<network>` → bridge name */
  bridgeNames: z.record(z.string(), z.string()),
  /** member key → host end name */
  hostIfnames: z.record(z.string(), z.string()),
  /** member key → interface name inside */
  ifnames: z.record(z.string(), z.string()),
  /** member key → MAC */
  macs: z.record(z.string(), MacOut),
});
export type Allocations = z.infer<typeof AllocationsSchema>;

/** What the store keeps for a topology (parsed on every read). */
export const TopologyDataSchema = z.object({
  name: z.string(),
  document: TopologyDocumentSchema,
  allocations: AllocationsSchema,
  /** Resources it owns, by slot: `bridge:<network>/<host>`, `tunnel:<network>/<hostA>~<hostB>`, `attachment:<member key>`. */
  owned: z.record(z.string(), z.string()),
  hosts: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
});
export type TopologyData = z.infer<typeof TopologyDataSchema>;

// ---- the plan

export const DisruptionSchema = z.enum(['none', 'link-flap', 'reattach']).openapi({
  description:
    'none: nothing carrying traffic is touched; link-flap: a tunnel or address changes, traffic pauses briefly; reattach: a member is detached and attached again',
});

export const TopologyChangeSchema = z
  .object({
    action: z.enum(['create', 'update', 'replace', 'delete']),
    kind: z.enum(['bridge', 'tunnel', 'attachment']),
    slot: z.string().openapi({
      description: 'what the document calls it: `bridge:web/docker1`, `tunnel:web/docker1~docker3`, `attachment:web/docker1/web1`',
    }),
    id: z.string().regex(resourceIdPattern).nullable().openapi({ description: 'the resource, once it exists' }),
    hosts: z.array(z.string()),
    disruption: DisruptionSchema,
    affects: z.array(z.string()).openapi({ description: 'members whose traffic this change touches (peers across a tunnel included)' }),
    fields: z.array(z.string()).openapi({ description: 'for update/replace: the fields that differ' }),
    commands: z
      .record(z.string(), z.array(z.string()))
      .openapi({ description: 'per host name: the commands as they will run (reads not included)' }),
  })
  .openapi('TopologyChange');
export type TopologyChange = z.infer<typeof TopologyChangeSchema>;

export const TopologyPlanSchema = z
  .object({
    name: z.string(),
    changes: z.array(TopologyChangeSchema),
    unchanged: z.array(z.string()).openapi({ description: 'slots already as the document says: not touched' }),
    allocations: AllocationsSchema,
  })
  .openapi('TopologyPlan');
export type TopologyPlan = z.infer<typeof TopologyPlanSchema>;

export const TopologySchema = z
  .object({
    id: idSchema('topology'),
    name: z.string(),
    document: TopologyDocumentSchema,
    allocations: AllocationsSchema,
    resources: z.record(z.string(), z.string()).openapi({ description: 'slot → resource id of everything it owns' }),
    hosts: z.array(z.string()).openapi({ description: 'host names' }),
    dockerMembers: z
      .array(
        z.object({
          host: z.string(),
          network: z.string(),
          dockerNetwork: z.string(),
          endpointId: z.string(),
          address: CidrOut,
          mac: MacOut,
          hostIfname: z.string(),
          joined: z.boolean(),
        }),
      )
      .optional()
      .openapi({ description: "containers Docker joined to the topology's published networks (`docker run --network`), on any host" }),
    labels: z.record(z.string(), z.string()),
    state: ResourceStateSchema,
    jobId: idSchema('job').nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    observed: z
      .object({
        observedAt: Timestamp,
        drift: DriftSchema.openapi({ description: "every owned resource's drift, fields prefixed with its slot" }),
      })
      .optional(),
  })
  .openapi('Topology');
export type TopologyView = z.infer<typeof TopologySchema>;
