/**
 * A topology network published to Docker (`docker: {name}`): the Docker network on every host of the network, made
 * and removed by the topology's jobs with the `docker` CLI on the host (the plugin answers dockerd meanwhile), and
 * the Docker endpoints on it as members of the topology (its view and observe).
 */
import { readResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import { DOCKER_RECORD, PLUGIN_NAME, type DockerEndpointData } from '../model/docker-plugin.js';
import { ProblemError } from '../model/problems.js';
import type { DriftItem } from '../model/resource.js';
import type { TopologyDocument } from '../model/topologies.js';
import {
  createDockerNetworkArgv,
  dockerNetworkCommands,
  endpointObserveCommands,
  portSteps,
  removeDockerNetworkArgv,
} from '../ops/docker-endpoints.js';
import { parseIpJson } from '../ops/links.js';
import type { Store } from '../store/types.js';
import { dockerEndpointsOf } from './docker-plugin.js';
import type { HostReader } from './kind.js';

/** One Docker network on one host. */
export interface DockerBinding {
  hostId: string;
  hostName: string;
  name: string;
  /** `<topology>/<network>` */
  ref: string;
  subnet: string;
}

/** The bindings a document wants, given the bridges a topology owns (by slot → id). */
export async function dockerBindings(
  store: Store,
  topology: string,
  doc: TopologyDocument,
  owned: Record<string, string>,
): Promise<DockerBinding[]> {
  const out: DockerBinding[] = [];
  for (const [network, net] of Object.entries(doc.networks)) {
    if (!net.docker || !net.subnet) continue;
    for (const [slot, id] of Object.entries(owned)) {
      if (!slot.startsWith(`bridge:${network}/`)) continue;
      const bridge = await readResource(store, 'bridge', id);
      if (bridge)
        out.push({
          hostId: bridge.data.hostId,
          hostName: bridge.data.hostName,
          name: net.docker.name,
          ref: `${topology}/${network}`,
          subnet: net.subnet,
        });
    }
  }
  return out;
}

const same = (a: DockerBinding, b: DockerBinding) => a.hostId === b.hostId && a.name === b.name && a.ref === b.ref;
const DOCKER_TIMEOUT_MS = 60_000;

async function removeBinding(ctx: JobContext, b: DockerBinding): Promise<void> {
  const r = await ctx.run(b.hostId, removeDockerNetworkArgv(b.name), { timeoutMs: DOCKER_TIMEOUT_MS });
  if (r.exitCode !== 0 && !/not found|no such network/i.test(r.stderr))
    throw new ProblemError('conflict', `docker network rm ${b.name} on ${b.hostName} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/**
 * Removes the bindings `before` has and `after` has not, then makes those `after` has and the host lacks. A name on
 * a host that is another driver's network (or another netplumb network's) is a conflict, never taken over.
 */
export async function syncDockerNetworks(ctx: JobContext, before: DockerBinding[], after: DockerBinding[]): Promise<void> {
  for (const b of before) if (!after.some((a) => same(a, b))) await removeBinding(ctx, b);
  for (const b of after) {
    await ctx.servePlugin(b.hostId);
    const seen = (await ctx.read(b.hostId, dockerNetworkCommands(b.name))).inspect;
    if (seen.exitCode === 0) {
      const [, driver, ref] = seen.stdout.trim().split(/\s+/);
      if (driver === PLUGIN_NAME && ref === b.ref) continue;
      throw new ProblemError(
        'conflict',
        `${b.hostName} already has a Docker network named ${b.name} (driver ${driver ?? '?'}${ref && ref !== '<no' ? `, ${ref}` : ''}): remove it or pick another docker.name`,
      );
    }
    const r = await ctx.run(b.hostId, createDockerNetworkArgv(b.name, b.ref, b.subnet), { timeoutMs: DOCKER_TIMEOUT_MS });
    if (r.exitCode !== 0)
      throw new ProblemError(
        'command-failed',
        `docker network create ${b.name} on ${b.hostName} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`,
      );
  }
}

/** When a topology goes: its Docker networks first (Docker refuses while containers use them), then its records. */
export async function removeDockerNetworks(ctx: JobContext, bindings: DockerBinding[], topology: string): Promise<void> {
  for (const b of bindings) await removeBinding(ctx, b);
  await ctx.store.tx(async (s) => {
    for (const type of Object.values(DOCKER_RECORD)) for (const r of await s.allResources(type, { topology })) await s.deleteResource(r.id);
  });
}

/** A Docker-joined container as the topology shows it. */
export interface DockerMemberView {
  host: string;
  network: string;
  dockerNetwork: string;
  endpointId: string;
  address: string;
  mac: string;
  hostIfname: string;
  joined: boolean;
}

export async function dockerMembers(store: Store, topology: string, doc: TopologyDocument): Promise<DockerMemberView[]> {
  return (await dockerEndpointsOf(store, topology)).map(({ data: e }) => ({
    host: e.hostName,
    network: e.network,
    dockerNetwork: doc.networks[e.network]?.docker?.name ?? '',
    endpointId: e.endpointId,
    address: e.address,
    mac: e.mac,
    hostIfname: e.hostIfname,
    joined: e.joined !== null,
  }));
}

/** Observe: every joined Docker endpoint's host end is there and on its bridge. */
export async function observeDockerMembers(hosts: HostReader, store: Store, topology: string): Promise<DriftItem[]> {
  const found = await readJoined(hosts.read.bind(hosts), store, topology);
  return found.flatMap(({ e, state }) => endpointDrift(e.data, state));
}

type Reader = (hostId: string, cmds: Record<string, readonly string[]>) => Promise<Record<string, { exitCode: number; stdout: string }>>;

interface EndpointState {
  hostEnd: boolean;
  /** The bridge its port is on (null: none). */
  bridge: string | null;
}

/** Every joined endpoint of the topology with what its host has (one read per host). */
async function readJoined(read: Reader, store: Store, topology: string) {
  const joined = (await dockerEndpointsOf(store, topology)).filter((e) => e.data.joined);
  const byHost = new Map<string, typeof joined>();
  for (const e of joined) byHost.set(e.data.hostId, [...(byHost.get(e.data.hostId) ?? []), e]);
  const out: { e: (typeof joined)[number]; state: EndpointState }[] = [];
  await Promise.all(
    [...byHost].map(async ([hostId, list]) => {
      const cmds: Record<string, readonly string[]> = {};
      list.forEach((e, i) => {
        for (const [k, argv] of Object.entries(endpointObserveCommands(e.data))) cmds[`${i}|${k}`] = argv;
      });
      const r = await read(hostId, cmds);
      list.forEach((e, i) => {
        const link = r[`${i}|link`]!.exitCode === 0 ? parseIpJson(r[`${i}|link`]!.stdout)[0] : undefined;
        const port = r[`${i}|port`]!;
        const bridge = e.data.bridgeType === 'ovs' ? (port.exitCode === 0 ? port.stdout.trim() || null : null) : (link?.master ?? null);
        out.push({ e, state: { hostEnd: !!link, bridge } });
      });
    }),
  );
  return out;
}

function endpointDrift(d: DockerEndpointData, s: EndpointState): DriftItem[] {
  const field = `docker:${d.network}/${d.hostName}/${d.endpointId.slice(0, 12)}`;
  if (!s.hostEnd) return [{ field: `${field}:hostEnd`, desired: d.hostIfname, actual: null }];
  if (s.bridge !== d.bridgeName) return [{ field: `${field}:bridge`, desired: d.bridgeName, actual: s.bridge }];
  return [];
}

/**
 * A topology's repair, for the containers Docker joined: a host end that lost its bridge port (the bridge was made
 * again) is put back on it. A host end that is gone is Docker's to make again (reconnect or restart the container):
 * logged, never invented here.
 */
export async function repairDockerMembers(ctx: JobContext, topology: string): Promise<void> {
  const found = await readJoined((hostId, cmds) => ctx.read(hostId, cmds), ctx.store, topology);
  const steps = [];
  for (const { e, state } of found) {
    if (!state.hostEnd)
      ctx.log(
        e.data.hostName,
        'info',
        `Docker endpoint ${e.data.endpointId.slice(0, 12)}: its veth is gone; reconnect the container (Docker owns it)`,
      );
    else if (state.bridge !== e.data.bridgeName) steps.push(...portSteps(e.id, e.data));
  }
  if (steps.length) await ctx.runPlan({ steps });
}
