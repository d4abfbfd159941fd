/**
 * The Docker plugin's work for one host (libnetwork remote driver + IPAM driver): which topology network a Docker
 * network is, the address ledger shared by every host of that network, and the host steps of Join and Leave (run as
 * jobs: host locks, a job log, undo on failure). The HTTP face is src/api/plugin/protocol.ts; a handler never calls
 * the Docker API (dockerd waits on the plugin while it starts) and never waits longer than its budget.
 */
import ipaddr from 'ipaddr.js';
import { nowIso, readByKey, readResource } from '../jobs/records.js';
import { newJob, type JobRunner } from '../jobs/runner.js';
import {
  ADDRESS_SPACE,
  DOCKER_RECORD,
  DockerAddressDataSchema,
  DockerEndpointDataSchema,
  DockerNetworkDataSchema,
  GATEWAY_KEY,
  GENERIC_OPTIONS,
  NETWORK_OPTION,
  NetworkRef,
  newPluginRecordId,
  type DockerAddressData,
  type DockerEndpointData,
} from '../model/docker-plugin.js';
import { canonicalCidr, ipFamily } from '../model/net.js';
import { macFromSeed } from '../ops/attachments.js';
import { endpointIfnames, joinPlan, leavePlan } from '../ops/docker-endpoints.js';
import type { Plan } from '../ops/plan.js';
import type { ResourceRecord, Store } from '../store/types.js';
import type { TypedResource } from './kind.js';

/** An answer Docker prints: `{"Err": message}` with a non-200 status. */
export class PluginError extends Error {
  constructor(
    message: string,
    readonly status = 500,
  ) {
    super(message.startsWith('netplumb') ? message : `netplumb: ${message}`);
    this.name = 'PluginError';
  }
}

export interface PluginBackendDeps {
  store: Store;
  runner: JobRunner;
  /** The longest a Join or Leave waits for its host steps (Docker's plugin client waits forever). */
  stepBudgetMs?: number;
}

const DEFAULT_STEP_BUDGET_MS = 20_000;

type Req = Record<string, unknown>;

/** The topology network a Docker network stands for, as the plugin needs it. */
interface NetworkTarget {
  topology: TypedResource<'topology'>;
  network: string;
  ref: string;
  subnet: string;
}

const stringOption = (opts: unknown, key: string): string | undefined => {
  if (!opts || typeof opts !== 'object') return undefined;
  const v = (opts as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
};

async function networkByRef(store: Store, ref: string): Promise<NetworkTarget> {
  if (!NetworkRef.safeParse(ref).success)
    throw new PluginError(`${NETWORK_OPTION}=${JSON.stringify(ref)} is not <topology>/<network>`, 400);
  const [t, n] = ref.split('/') as [string, string];
  const topology = await readByKey(store, 'topology', t);
  const net = topology?.data.document.networks[n];
  if (!topology || !net) throw new PluginError(`no topology network ${ref} (apply a topology with that network first)`, 404);
  if (!net.subnet || ipFamily(net.subnet) !== 4)
    throw new PluginError(`topology network ${ref} has no IPv4 subnet for Docker to take addresses from`, 400);
  return { topology, network: n, ref, subnet: net.subnet };
}

/** By the pool Docker was given (`--subnet`): the one topology network published to Docker with that subnet. */
async function networkBySubnet(store: Store, pool: string): Promise<NetworkTarget> {
  const want = canonicalCidr(pool);
  const found: string[] = [];
  for (const rec of await store.allResources('topology')) {
    const doc = (rec.data as { name: string; document: { networks: Record<string, { subnet?: string; docker?: unknown }> } }).document;
    for (const [n, net] of Object.entries(doc.networks))
      if (net.docker && net.subnet && canonicalCidr(net.subnet) === want) found.push(`${rec.key}/${n}`);
  }
  if (found.length !== 1)
    throw new PluginError(
      found.length
        ? `subnet ${pool} is published by several topology networks (${found.join(', ')}): name one with ${NETWORK_OPTION}=<topology>/<network>`
        : `no topology network published to Docker has subnet ${pool}: give ${NETWORK_OPTION}=<topology>/<network>`,
      404,
    );
  return await networkByRef(store, found[0]!);
}

/** Addresses the topology's own ledger holds on this network (members, host bridges): never given to Docker. */
function ledgerAddresses(t: NetworkTarget): Set<string> {
  const a = t.topology.data.allocations;
  const out = new Set<string>();
  for (const [k, v] of [...Object.entries(a.memberAddresses), ...Object.entries(a.hostAddresses)])
    if (k.startsWith(`${t.network}/`)) out.add(v.split('/')[0]!);
  return out;
}

async function leases(store: Store, t: NetworkTarget): Promise<Map<string, ResourceRecord>> {
  const all = await store.allResources(DOCKER_RECORD.address, { topology: t.topology.data.name, network: t.network });
  return new Map(all.map((r) => [DockerAddressDataSchema.parse(r.data).address, r]));
}

function* hostsOf(subnet: string): Generator<string> {
  const [net, len] = ipaddr.parseCIDR(subnet);
  const first = ipaddr.IPv4.networkAddressFromCIDR(subnet).toByteArray();
  const size = 2 ** (32 - len);
  void net;
  const base = ((first[0]! << 24) >>> 0) + (first[1]! << 16) + (first[2]! << 8) + first[3]!;
  for (let i = size > 2 ? 1 : 0; i < (size > 2 ? size - 1 : size); i++) {
    const v = base + i;
    yield [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
}

function inSubnet(ip: string, subnet: string): boolean {
  try {
    const a = ipaddr.parse(ip);
    return a.kind() === 'ipv4' && a.match(ipaddr.parseCIDR(subnet));
  } catch {
    return false;
  }
}

const prefixOf = (subnet: string) => subnet.split('/')[1]!;

/** Leases an address of the network (a given one, or the lowest free one) in one transaction: unique across hosts. */
async function lease(store: Store, t: NetworkTarget, hostId: string | null, wanted: string | null, gateway: boolean): Promise<string> {
  return await store.tx(async (s) => {
    const held = await leases(s, t);
    if (gateway) {
      for (const [address, r] of held) if (DockerAddressDataSchema.parse(r.data).gateway) return address;
    }
    const ledger = ledgerAddresses(t);
    let address: string | null = null;
    if (wanted) {
      if (!inSubnet(wanted, t.subnet)) throw new PluginError(`${wanted} is outside ${t.ref}'s subnet ${t.subnet}`, 400);
      if (ledger.has(wanted)) throw new PluginError(`${wanted} is taken by a member of topology network ${t.ref}`, 409);
      if (held.has(wanted)) throw new PluginError(`${wanted} is already in use on ${t.ref} (by a container on some host)`, 409);
      address = wanted;
    } else {
      for (const ip of hostsOf(t.subnet))
        if (!ledger.has(ip) && !held.has(ip)) {
          address = ip;
          break;
        }
      if (!address) throw new PluginError(`no free address left in ${t.ref}'s subnet ${t.subnet}`, 409);
    }
    const now = nowIso();
    const data: DockerAddressData = { topology: t.topology.data.name, network: t.network, address, hostId, gateway };
    await s.insertResource({
      id: newPluginRecordId('dip'),
      type: DOCKER_RECORD.address,
      key: `${t.ref}/${address}`,
      state: 'ready',
      jobId: null,
      createdAt: now,
      updatedAt: now,
      data,
      secret: null,
    });
    return address;
  });
}

/** The bridge the topology made for this network on this host: what a Join plugs the veth into. */
async function bridgeOn(store: Store, t: NetworkTarget, hostId: string) {
  const host = await readResource(store, 'host', hostId);
  const id = host && t.topology.data.owned[`bridge:${t.network}/${host.data.name}`];
  const bridge = id ? await readResource(store, 'bridge', id) : null;
  if (!host || !bridge)
    throw new PluginError(
      `topology network ${t.ref} has no bridge on ${host?.data.name ?? hostId}: add the host to the network (members or docker.hosts) and apply`,
      409,
    );
  return { host, bridge };
}

export interface DockerPluginBackend {
  createNetwork(req: {
    NetworkID: string;
    Options?: Req | null | undefined;
    IPv4Data?: { Pool?: string | undefined }[] | null | undefined;
    IPv6Data?: unknown[] | null | undefined;
  }): Promise<void>;
  deleteNetwork(req: { NetworkID: string }): Promise<void>;
  createEndpoint(req: {
    NetworkID: string;
    EndpointID: string;
    Interface?: { Address?: string | undefined; AddressIPv6?: string | undefined; MacAddress?: string | undefined } | null | undefined;
  }): Promise<{ Interface?: { MacAddress: string } }>;
  endpointOperInfo(req: { NetworkID: string; EndpointID: string }): Promise<{ Value: Record<string, string> }>;
  deleteEndpoint(req: { NetworkID: string; EndpointID: string }): Promise<void>;
  join(req: { NetworkID: string; EndpointID: string; SandboxKey?: string | undefined }): Promise<{
    InterfaceName: { SrcName: string; DstPrefix: string };
  }>;
  leave(req: { NetworkID: string; EndpointID: string }): Promise<void>;
  requestPool(req: { Pool?: string | undefined; Options?: Record<string, string> | null | undefined; V6?: boolean | undefined }): Promise<{
    PoolID: string;
    Pool: string;
    Data: Record<string, string>;
  }>;
  releasePool(req: { PoolID: string }): Promise<void>;
  requestAddress(req: { PoolID: string; Address?: string | undefined; Options?: Record<string, string> | null | undefined }): Promise<{
    Address: string;
    Data: Record<string, string>;
  }>;
  releaseAddress(req: { PoolID: string; Address: string }): Promise<void>;
  defaultAddressSpaces(): { LocalDefaultAddressSpace: string; GlobalDefaultAddressSpace: string };
}

/** The plugin's work for the host whose dockerd is on the other end of the socket. */
export function dockerPluginBackend(deps: PluginBackendDeps, hostId: string): DockerPluginBackend {
  const { store } = deps;
  const budget = deps.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS;

  const networkRecord = async (networkId: string) => {
    const rec = await store.getResourceByKey(DOCKER_RECORD.network, `${hostId}/${networkId}`);
    if (!rec) throw new PluginError(`Docker network ${networkId.slice(0, 12)} is not a netplumb network on this host`, 404);
    return DockerNetworkDataSchema.parse(rec.data);
  };
  const endpointRecord = async (endpointId: string) => {
    const rec = await store.getResourceByKey(DOCKER_RECORD.endpoint, `${hostId}/${endpointId}`);
    return rec ? { rec, data: DockerEndpointDataSchema.parse(rec.data) } : null;
  };

  /** Runs a host plan as a job on this host and waits for it within the budget. */
  const runSteps = async (kind: string, e: DockerEndpointData, plan: Plan, note: string): Promise<void> => {
    // The job is the topology's (its network gets the port): it is listed with the topology's other jobs.
    const topology = await readByKey(store, 'topology', e.topology);
    if (!topology) throw new PluginError(`topology ${e.topology} no longer exists`, 404);
    const job = newJob({ kind, resource: { type: 'topology', id: topology.id }, hosts: [hostId], lockMode: 'shared' });
    await store.insertJob(job);
    deps.runner.start(
      job,
      async (ctx) => {
        ctx.log(null, 'info', note);
        await ctx.runPlan(plan);
      },
      undefined,
      'shared',
    );
    const done = await deps.runner.wait(job.id, budget);
    if (done.status === 'succeeded') return;
    if (done.status === 'queued' || done.status === 'running')
      throw new PluginError(`the host steps did not finish within ${budget / 1000} s (job ${job.id} goes on; see its log)`, 504);
    const detail = typeof done.error?.detail === 'string' ? done.error.detail : 'see its log';
    throw new PluginError(`${kind} failed on the host (job ${job.id}): ${detail}`, 500);
  };

  return {
    defaultAddressSpaces: () => ({ LocalDefaultAddressSpace: ADDRESS_SPACE, GlobalDefaultAddressSpace: ADDRESS_SPACE }),

    async requestPool(req) {
      if (req.V6) throw new PluginError('netplumb networks are IPv4 only for Docker (leave IPv6 off)', 400);
      const ref = req.Options?.[NETWORK_OPTION];
      const t = ref ? await networkByRef(store, ref) : req.Pool ? await networkBySubnet(store, req.Pool) : null;
      if (!t) throw new PluginError(`name the topology network: --ipam-opt ${NETWORK_OPTION}=<topology>/<network> (or --subnet)`, 400);
      if (req.Pool && canonicalCidr(req.Pool) !== canonicalCidr(t.subnet))
        throw new PluginError(`--subnet ${req.Pool} is not ${t.ref}'s subnet ${t.subnet}`, 400);
      const gateway = await lease(store, t, null, null, true);
      return { PoolID: t.ref, Pool: t.subnet, Data: { [GATEWAY_KEY]: `${gateway}/${prefixOf(t.subnet)}` } };
    },

    async releasePool() {
      // The pool is the topology network's: it stays until the topology goes.
    },

    async requestAddress(req) {
      const t = await networkByRef(store, req.PoolID);
      const isGateway = req.Options?.RequestAddressType === GATEWAY_KEY;
      const wanted = req.Address ? req.Address.split('/')[0]! : null;
      if (isGateway) {
        const gw = await lease(store, t, null, null, true);
        if (wanted && wanted !== gw) throw new PluginError(`the gateway of ${t.ref} is ${gw}; --gateway cannot change it`, 400);
        return { Address: `${gw}/${prefixOf(t.subnet)}`, Data: {} };
      }
      const address = await lease(store, t, hostId, wanted, false);
      return { Address: `${address}/${prefixOf(t.subnet)}`, Data: {} };
    },

    async releaseAddress(req) {
      const rec = await store.getResourceByKey(DOCKER_RECORD.address, `${req.PoolID}/${req.Address.split('/')[0]}`);
      if (!rec || DockerAddressDataSchema.parse(rec.data).gateway) return; // gone already, or the network's gateway (shared)
      await store.deleteResource(rec.id);
    },

    async createNetwork(req) {
      if (req.IPv6Data?.length) throw new PluginError('netplumb networks are IPv4 only for Docker (leave IPv6 off)', 400);
      const ref = stringOption(req.Options?.[GENERIC_OPTIONS], NETWORK_OPTION);
      const pool = req.IPv4Data?.[0]?.Pool;
      const t = ref ? await networkByRef(store, ref) : pool ? await networkBySubnet(store, pool) : null;
      if (!t) throw new PluginError(`name the topology network: -o ${NETWORK_OPTION}=<topology>/<network>`, 400);
      await bridgeOn(store, t, hostId);
      const key = `${hostId}/${req.NetworkID}`;
      await store.tx(async (s) => {
        if (await s.getResourceByKey(DOCKER_RECORD.network, key)) return;
        const now = nowIso();
        await s.insertResource({
          id: newPluginRecordId('dnet'),
          type: DOCKER_RECORD.network,
          key,
          state: 'ready',
          jobId: null,
          createdAt: now,
          updatedAt: now,
          data: { hostId, networkId: req.NetworkID, topology: t.topology.data.name, network: t.network },
          secret: null,
        });
      });
    },

    async deleteNetwork(req) {
      const rec = await store.getResourceByKey(DOCKER_RECORD.network, `${hostId}/${req.NetworkID}`);
      if (rec) await store.deleteResource(rec.id);
    },

    async createEndpoint(req) {
      const n = await networkRecord(req.NetworkID);
      const t = await networkByRef(store, `${n.topology}/${n.network}`);
      const address = req.Interface?.Address;
      if (!address || ipFamily(address) !== 4 || !inSubnet(address.split('/')[0]!, t.subnet))
        throw new PluginError(`the endpoint needs an IPv4 address of ${t.ref}'s subnet ${t.subnet} (got ${address ?? 'none'})`, 400);
      if (req.Interface?.AddressIPv6) throw new PluginError('netplumb networks are IPv4 only for Docker (leave IPv6 off)', 400);
      const existing = await endpointRecord(req.EndpointID);
      const givenMac = req.Interface?.MacAddress ? req.Interface.MacAddress.toLowerCase() : null;
      // It goes into the veth's command line: only a plain unicast MAC.
      if (givenMac !== null && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(givenMac))
        throw new PluginError(`the endpoint's MAC ${JSON.stringify(givenMac.slice(0, 40))} is not a MAC address`, 400);
      if (existing) return givenMac ? {} : { Interface: { MacAddress: existing.data.mac } };
      const { host, bridge } = await bridgeOn(store, t, hostId);
      // Derived from the network and the address: a container that comes back with its address (a restart, a
      // reconnect) comes back with its MAC too, so its peers' ARP caches stay right.
      const mac = givenMac ?? macFromSeed(`docker/${t.ref}/${address.split('/')[0]}`);
      const mtu = t.topology.data.document.networks[t.network]?.mtu ?? bridge.data.overlayMtu ?? 1500;
      const data: DockerEndpointData = {
        hostId,
        hostName: host.data.name,
        networkId: req.NetworkID,
        endpointId: req.EndpointID,
        topology: t.topology.data.name,
        network: t.network,
        address,
        mac,
        ...endpointIfnames(req.EndpointID),
        bridgeName: bridge.data.name,
        bridgeType: bridge.data.type,
        datapathType: bridge.data.datapathType,
        mtu,
        joined: null,
      };
      const now = nowIso();
      await store.insertResource({
        id: newPluginRecordId('dep'),
        type: DOCKER_RECORD.endpoint,
        key: `${hostId}/${req.EndpointID}`,
        state: 'ready',
        jobId: null,
        createdAt: now,
        updatedAt: now,
        data,
        secret: null,
      });
      return givenMac ? {} : { Interface: { MacAddress: mac } };
    },

    async endpointOperInfo(req) {
      const e = await endpointRecord(req.EndpointID);
      if (!e) throw new PluginError(`no endpoint ${req.EndpointID.slice(0, 12)} on this host`, 404);
      return { Value: { hostIfname: e.data.hostIfname, address: e.data.address, bridge: e.data.bridgeName } };
    },

    async join(req) {
      const e = await endpointRecord(req.EndpointID);
      if (!e) throw new PluginError(`no endpoint ${req.EndpointID.slice(0, 12)} on this host (CreateEndpoint first)`, 404);
      await runSteps(
        'docker.join',
        e.data,
        joinPlan(e.rec.id, e.data),
        `Docker endpoint ${req.EndpointID} joins ${e.data.topology}/${e.data.network}`,
      );
      const joined = { sandboxKey: req.SandboxKey ?? null, at: nowIso() };
      await store.patchResource(e.rec.id, { data: { ...e.data, joined }, updatedAt: nowIso() });
      return { InterfaceName: { SrcName: e.data.peerIfname, DstPrefix: 'eth' } };
    },

    async leave(req) {
      const e = await endpointRecord(req.EndpointID);
      if (!e) return;
      await runSteps(
        'docker.leave',
        e.data,
        leavePlan(e.data),
        `Docker endpoint ${req.EndpointID} leaves ${e.data.topology}/${e.data.network}`,
      );
      await store.patchResource(e.rec.id, { data: { ...e.data, joined: null }, updatedAt: nowIso() });
    },

    async deleteEndpoint(req) {
      const e = await endpointRecord(req.EndpointID);
      if (!e) return;
      if (e.data.joined)
        await runSteps('docker.leave', e.data, leavePlan(e.data), `Docker endpoint ${req.EndpointID} deleted while joined`);
      await store.deleteResource(e.rec.id);
    },
  };
}

/** The Docker endpoints on a topology's networks (for its view, observe and delete). */
export async function dockerEndpointsOf(store: Store, topology: string): Promise<{ id: string; data: DockerEndpointData }[]> {
  return (await store.allResources(DOCKER_RECORD.endpoint, { topology })).map((r) => ({
    id: r.id,
    data: DockerEndpointDataSchema.parse(r.data),
  }));
}

/** Every record the plugin keeps for a topology (its delete removes them with it). */
export async function dockerRecordsOf(store: Store, topology: string): Promise<ResourceRecord[]> {
  const out: ResourceRecord[] = [];
  for (const type of Object.values(DOCKER_RECORD)) out.push(...(await store.allResources(type, { topology })));
  return out;
}
