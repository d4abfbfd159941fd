/** Bridges: OVS or Linux bridges netplumb owns on a host. Request resolution, job work and the kind itself. */
import { mustRead, readAll, saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import {
  BridgeDataSchema,
  renderBridge,
  type BridgeCreate,
  type BridgeData,
  type BridgeObservation,
  type BridgeView,
} from '../model/bridges.js';
import type { HostData } from '../model/hosts.js';
import { ProblemError } from '../model/problems.js';
import type { AnyResource } from '../model/resource-data.js';
import {
  bridgeDrift,
  bridgeFactCommands,
  createBridgePlan,
  memberDrift,
  deleteBridgePlan,
  observeCommands,
  parseBridgeFacts,
  parseObservation,
  updateBridgePlan,
  type BridgeFacts,
} from '../ops/bridges.js';
import { ipLinkShow, parseIpJson } from '../ops/links.js';
import type { Store } from '../store/types.js';
import type { ResourceKind, TypedResource } from './kind.js';
import { refreshOverlayMtu } from './overlay-mtu.js';
import { findBridge } from './refs.js';
import { isUnknownOutcome, markUnknown } from './unknown.js';

// ---- request → data

/** auto → system when the host's OVS has the kernel datapath and the module, else netdev (userspace). */
export function resolveDatapath(body: Pick<BridgeCreate, 'type' | 'datapathType'>, host: HostData): BridgeData['datapathType'] {
  if (body.type === 'linux') {
    if (body.datapathType !== 'auto')
      throw ProblemError.validation([{ pointer: '/datapathType', detail: 'only OVS bridges have a datapath type' }]);
    return null;
  }
  if (!host.facts) {
    throw new ProblemError('conflict', `host ${host.name} has not been probed successfully; POST /hosts/${host.name}/probe first`);
  }
  if (!host.facts.reachable) {
    throw new ProblemError(
      'host-unreachable',
      `host ${host.name} did not answer its last probe; the service probes it again by itself: retry after a while`,
      { host: host.name },
    );
  }
  const types = host.facts.ovs?.datapathTypes ?? [];
  if (!host.facts.ovs)
    throw ProblemError.validation([{ pointer: '/host', detail: `host ${host.name} has no Open vSwitch (according to its last probe)` }]);
  const system = types.includes('system') && !!host.facts.kernelModules?.openvswitch;
  if (body.datapathType === 'system') {
    if (!system)
      throw ProblemError.validation([
        { pointer: '/datapathType', detail: `host ${host.name} has no kernel datapath (openvswitch module absent); use netdev or auto` },
      ]);
    return 'system';
  }
  if (body.datapathType === 'netdev' || !system) {
    if (!types.includes('netdev'))
      throw ProblemError.validation([
        { pointer: '/datapathType', detail: `host ${host.name}'s OVS offers neither a usable system nor the netdev datapath` },
      ]);
    return 'netdev';
  }
  return 'system';
}

// ---- job work

async function readBridgeFacts(ctx: JobContext, d: BridgeData): Promise<BridgeFacts> {
  return parseBridgeFacts(await ctx.read(d.hostId, bridgeFactCommands(d)));
}

export async function createBridge(ctx: JobContext, id: string): Promise<void> {
  const bridge = await mustRead(ctx.store, 'bridge', id);
  const d = bridge.data;
  let planStarted = false;
  try {
    const facts = await readBridgeFacts(ctx, d);
    if (facts.exists) {
      if (facts.kind !== d.type) {
        throw new ProblemError(
          'conflict',
          `${d.hostName} already has a ${facts.kind === 'other' ? 'non-bridge device' : `${facts.kind} bridge`} named ${d.name}`,
          { errors: [{ pointer: '/name', detail: 'already used on the host' }] },
        );
      }
      if (facts.owner === id) ctx.log(d.hostName, 'info', `${d.name} already carries this bridge's mark: converging it`);
      else if (d.adopted) ctx.log(d.hostName, 'info', `adopting ${d.name}${facts.owner ? ` (was marked ${facts.owner})` : ''}`);
      else {
        throw new ProblemError(
          'conflict',
          `${d.hostName} already has a bridge named ${d.name}${facts.owner ? ` (marked by netplumb resource ${facts.owner})` : ' (not made by netplumb)'}; pass "adopt": true to take it over`,
          { errors: [{ pointer: '/name', detail: 'already exists on the host' }] },
        );
      }
    }
    planStarted = true;
    await ctx.runPlan(createBridgePlan(id, d, facts));
    await saveResource(ctx.store, bridge, { state: 'ready' });
  } catch (e) {
    // The host may have the bridge after all (the answer was lost): keep the record, to be resolved.
    if (planStarted && isUnknownOutcome(e)) {
      await markUnknown(ctx, bridge, e);
      throw e;
    }
    // A failed create leaves no record: the host was put back as it was.
    await ctx.store.deleteResource(id);
    throw e;
  }
}

export async function updateBridge(ctx: JobContext, id: string, previous: BridgeData): Promise<void> {
  const bridge = await mustRead(ctx.store, 'bridge', id);
  const d = bridge.data;
  try {
    let liveMtu: number | null = null;
    if (d.type === 'linux' && d.mtu !== null && previous.mtu === null) {
      liveMtu = parseIpJson((await ctx.run(d.hostId, ipLinkShow(d.name))).stdout)[0]?.mtu ?? null;
    }
    await ctx.runPlan(updateBridgePlan(d, previous, liveMtu));
    await saveResource(ctx.store, bridge, { state: 'ready' });
    // The overlay MTU of the tunnels on this bridge follows its MTU.
    if (d.mtu !== previous.mtu) await refreshOverlayMtu(ctx.store, [id]);
  } catch (e) {
    if (isUnknownOutcome(e)) {
      await markUnknown(ctx, bridge, e);
      throw e;
    }
    // overlayMtu belongs to the tunnels (it may have changed since the PATCH was accepted): keep the current one.
    const overlayMtu = (await mustRead(ctx.store, 'bridge', id)).data.overlayMtu;
    await saveResource(ctx.store, bridge, { data: { ...previous, overlayMtu }, state: 'ready' });
    throw e;
  }
}

async function removeBridge(ctx: JobContext, bridge: TypedResource<'bridge'>, cascade: boolean): Promise<void> {
  const d = bridge.data;
  const outs = await ctx.read(d.hostId, observeCommands(d));
  const o = parseObservation(d, outs);
  const foreign = o.ports.filter((p) => p.name !== d.name);
  if (foreign.length && !cascade) {
    throw new ProblemError(
      'conflict',
      `${d.name} on ${d.hostName} still has ports in use (${foreign.map((p) => p.name).join(', ')}); delete them first or pass ?cascade=true`,
    );
  }
  await ctx.runPlan(deleteBridgePlan(d, { exists: o.exists, kind: d.type, owner: o.owner }));
  await ctx.store.deleteResource(bridge.id);
}

/** The ports the records put on a bridge: its tunnel ends and its attachments' host ends (a stopped container's has none). */
export async function bridgeMembers(store: Store, bridge: TypedResource<'bridge'>): Promise<{ name: string; owner: string }[]> {
  const ends = (await readAll(store, 'tunnel')).flatMap((t) =>
    t.data.endpoints.filter((e) => e.bridgeId === bridge.id).map((e) => ({ name: e.portName, owner: t.id })),
  );
  const atts = (await readAll(store, 'attachment', { bridgeId: bridge.id }))
    .filter((a) => a.state !== 'target-stopped' && a.state !== 'pending')
    .map((a) => ({ name: a.data.hostIfname, owner: a.id }));
  return [...ends, ...atts];
}

/** What uses a bridge: tunnels with an end on it (first: they span hosts), then attachments. */
async function bridgeDependents(store: Store, bridge: TypedResource<'bridge'>): Promise<AnyResource[]> {
  const tunnels = (await readAll(store, 'tunnel')).filter((t) => t.data.endpoints.some((e) => e.bridgeId === bridge.id));
  return [...tunnels, ...(await readAll(store, 'attachment', { bridgeId: bridge.id }))];
}

export const bridgeKind: ResourceKind<'bridge', BridgeView, BridgeObservation> = {
  type: 'bridge',
  noun: 'bridge',
  lockMode: 'exclusive',
  describe: (bridge) => `${bridge.data.hostName}/${bridge.data.name}`,
  render: renderBridge,
  find: findBridge,
  hosts: (bridge) => [bridge.data.hostId],
  dependents: bridgeDependents,
  resume: {
    create: { run: (ctx, id) => createBridge(ctx, id), successStatus: 201 },
    update: {
      run: (ctx, id, params) => updateBridge(ctx, id, BridgeDataSchema.parse(params?.previous)),
      successStatus: 200,
      params: { previous: (v) => BridgeDataSchema.parse(v) },
    },
    delete: true,
  },
  async observe(hosts, bridge, store) {
    const d = bridge.data;
    const o = parseObservation(d, await hosts.read(d.hostId, observeCommands(d)));
    const drift = [...bridgeDrift(bridge.id, d, o), ...memberDrift(o, await bridgeMembers(store, bridge))];
    return { observedAt: new Date().toISOString(), ...o, drift };
  },
  remove: (ctx, bridge, opts) => removeBridge(ctx, bridge, opts.cascade),
};
