/**
 * netplumb as a Docker network and IPAM plugin (libnetwork's remote driver protocol): the names it accepts, the
 * requests Docker sends (read leniently: Docker sends more than netplumb needs, and fields come and go between
 * versions) and what the store keeps for each host's Docker networks, endpoints and address leases.
 */
import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { HostName } from './names.js';

/** The plugin's name: `docker network create -d netplumb --ipam-driver netplumb`. */
export const PLUGIN_NAME = 'netplumb';
/** Where dockerd looks for it on every host. */
export const PLUGIN_SOCKET_PATH = '/run/docker/plugins/netplumb.sock';
/** The driver and IPAM option naming the topology network: `-o netplumb.network=<topology>/<network>`. */
export const NETWORK_OPTION = 'netplumb.network';
/** Docker's key for a network's generic driver options (`-o k=v`). */
export const GENERIC_OPTIONS = 'com.docker.network.generic';
/** Docker's key for the gateway in a pool's Data, and the RequestAddressType it asks a gateway with. */
export const GATEWAY_KEY = 'com.docker.network.gateway';
/** The address space netplumb answers GetDefaultAddressSpaces with. */
export const ADDRESS_SPACE = 'netplumb';

/** Docker network names (what `docker network create` accepts, without a leading dash). */
export const DockerNetworkName = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a Docker network name: 1-64 of [A-Za-z0-9_.-], starting with a letter or digit')
  .openapi({ example: 'web' });

/** `<topology>/<network>`: how a Docker network names the netplumb network it is. */
export const NetworkRef = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}\/[a-z][a-z0-9-]{0,31}$/, '<topology>/<network>, each 1-32 of [a-z0-9-] starting with a letter');

/** Docker's ids (networks, endpoints): 64 hex digits. */
export const DockerId = z.string().regex(/^[0-9a-f]{64}$/, 'a Docker id (64 hex digits)');

/** A topology network's Docker publication (in the topology document). */
export const TopologyDockerSchema = z
  .object({
    name: DockerNetworkName.openapi({
      description: 'the Docker network made on every host of the network (`docker run --network <name>`)',
    }),
    hosts: z.array(HostName).max(256).default([]).openapi({
      description: 'hosts that get the network besides those with members (their bridge and tunnels are made for it)',
    }),
  })
  .strict()
  .openapi('TopologyDocker');
export type TopologyDocker = z.infer<typeof TopologyDockerSchema>;

// ---- what Docker sends (extra fields are allowed and ignored)

const Options = z.record(z.string(), z.unknown()).nullish();
const IpamData = z.object({ AddressSpace: z.string().optional(), Pool: z.string().optional(), Gateway: z.string().optional() });

export const CreateNetworkRequest = z.object({
  NetworkID: DockerId,
  Options,
  IPv4Data: z.array(IpamData).nullish(),
  IPv6Data: z.array(IpamData).nullish(),
});
export const NetworkIdRequest = z.object({ NetworkID: DockerId });
export const EndpointRequest = z.object({ NetworkID: DockerId, EndpointID: DockerId });
export const CreateEndpointRequest = EndpointRequest.extend({
  Interface: z.object({ Address: z.string().optional(), AddressIPv6: z.string().optional(), MacAddress: z.string().optional() }).nullish(),
  Options,
});
export const JoinRequest = EndpointRequest.extend({ SandboxKey: z.string().optional(), Options });
export const RequestPoolRequest = z.object({
  AddressSpace: z.string().optional(),
  Pool: z.string().optional(),
  SubPool: z.string().optional(),
  Options: z.record(z.string(), z.string()).nullish(),
  V6: z.boolean().optional(),
});
export const PoolIdRequest = z.object({ PoolID: z.string().min(1) });
export const RequestAddressRequest = z.object({
  PoolID: z.string().min(1),
  Address: z.string().optional(),
  Options: z.record(z.string(), z.string()).nullish(),
});
export const ReleaseAddressRequest = z.object({ PoolID: z.string().min(1), Address: z.string().min(1) });

// ---- what the store keeps (resource records of these types; not API resources of their own)

export const DOCKER_RECORD = {
  /** key `<hostId>/<NetworkID>` */
  network: 'docker-network',
  /** key `<hostId>/<EndpointID>` */
  endpoint: 'docker-endpoint',
  /** key `<topology>/<network>/<address>`: unique across hosts by the store's (type, key) constraint */
  address: 'docker-address',
} as const;

export const DockerNetworkDataSchema = z.object({
  hostId: z.string(),
  networkId: z.string(),
  topology: z.string(),
  network: z.string(),
});
export type DockerNetworkData = z.infer<typeof DockerNetworkDataSchema>;

export const DockerEndpointDataSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  networkId: z.string(),
  endpointId: z.string(),
  topology: z.string(),
  network: z.string(),
  /** CIDR, as IPAM gave it */
  address: z.string(),
  mac: z.string(),
  /** The host end on the bridge, and its peer Docker moves into the container. */
  hostIfname: z.string(),
  peerIfname: z.string(),
  bridgeName: z.string(),
  bridgeType: z.enum(['ovs', 'linux']),
  datapathType: z.enum(['system', 'netdev']).nullable(),
  mtu: z.number().int(),
  /** Set by Join, cleared by Leave. */
  joined: z.object({ sandboxKey: z.string().nullable(), at: z.string() }).nullable(),
});
export type DockerEndpointData = z.infer<typeof DockerEndpointDataSchema>;

export const DockerAddressDataSchema = z.object({
  topology: z.string(),
  network: z.string(),
  address: z.string(),
  /** The host whose dockerd asked for it; null for the network's gateway (shared by every host). */
  hostId: z.string().nullable(),
  gateway: z.boolean(),
});
export type DockerAddressData = z.infer<typeof DockerAddressDataSchema>;

const B32 = '234567abcdefghijklmnopqrstuvwxyz';
/** Ids of the plugin's records (`dnet_…`, `dep_…`, `dip_…`): they mark what Join puts on a host (orphan checks find the record). */
export function newPluginRecordId(prefix: 'dnet' | 'dep' | 'dip'): string {
  let s = '';
  for (const b of randomBytes(26)) s += B32[b % 32];
  return `${prefix}_${s}`;
}
