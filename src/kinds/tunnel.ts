/** Tunnels: both ends in one job under both hosts' locks; the bridges' overlay MTU follows the tunnels on them. */
import { mustRead, readResource, saveResource } from '../jobs/records.js';
import { undo, type JobContext } from '../jobs/runner.js';
import { idPattern } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { renderTunnel, TunnelDataSchema, type TunnelData, type TunnelEndObservation, type TunnelView } from '../model/tunnels.js';
import { createTunnelPlan, deleteTunnelPlan, endCommands, endDrift, parseEnd, type EndState } from '../ops/tunnels.js';
import type { Observation, ResourceKind, TypedResource } from './kind.js';
import { observeTunnelEndImpairment, tunnelImpairmentDeleteSteps, updateTunnelLive } from './impairments.js';
import { refreshOverlayMtu } from './overlay-mtu.js';
import { isUnknownOutcome, markUnknown } from './unknown.js';

/** Both ends as the hosts have them now (read in parallel; each host's commands go to its own executor). */
async function readEnds(
  ctx: JobContext,
  d: TunnelData,
  only: (end: TunnelData['endpoints'][number]) => boolean = () => true,
): Promise<[EndState | null, EndState | null]> {
  const read = async (i: 0 | 1) => {
    const end = d.endpoints[i];
    return only(end) ? parseEnd(end, await ctx.read(end.hostId, endCommands(end))) : null;
  };
  return Promise.all([read(0), read(1)]);
}

/** Both ends, always read. */
export async function readBothEnds(ctx: JobContext, d: TunnelData): Promise<[EndState, EndState]> {
  const [a, b] = await readEnds(ctx, d);
  return [a!, b!];
}

export async function createTunnel(ctx: JobContext, id: string): Promise<void> {
  const tunnel = await mustRead(ctx.store, 'tunnel', id);
  const d = tunnel.data;
  let planStarted = false;
  try {
    const before = await readBothEnds(ctx, d);
    before.forEach((o, i) => {
      const e = d.endpoints[i]!;
      if (!o.exists || o.owner === id) return;
      const what = e.bridgeType === 'ovs' ? 'an OVS interface' : 'a network device';
      throw new ProblemError(
        'conflict',
        `${e.hostName} already has ${what} named ${e.portName}${o.owner ? ` (marked by netplumb resource ${o.owner})` : ' (not made by netplumb)'}; choose another portName`,
        {
          errors: [{ pointer: `/endpoints/${i}/portName`, detail: 'already exists on the host' }],
        },
      );
    });
    const plan = createTunnelPlan(id, d, before);
    planStarted = true;
    await ctx.runPlan(plan);
    // ovs-vsctl succeeds once the row is written; whether ovs-vswitchd could make the port shows in error/ofport.
    const after = await readEnds(ctx, d, (end) => end.bridgeType === 'ovs');
    const broken = after
      .map((o, i) => ({ o, e: d.endpoints[i]! }))
      .filter(
        (x): x is { o: EndState; e: TunnelData['endpoints'][number] } =>
          !!x.o && x.o.exists && (!!x.o.error || (x.o.ofport !== null && x.o.ofport < 0)),
      );
    if (broken.length) {
      await undo(ctx, plan.steps);
      const { o, e } = broken[0]!;
      throw new ProblemError(
        'command-failed',
        `Open vSwitch on ${e.hostName} could not create tunnel port ${e.portName}: ${o.error ?? `ofport ${o.ofport}`}`,
        { host: e.hostName },
      );
    }
    await saveResource(ctx.store, tunnel, { state: 'ready' });
    await refreshOverlayMtu(
      ctx.store,
      d.endpoints.map((e) => e.bridgeId),
    );
    ctx.log(
      null,
      'info',
      `overlay MTU ${d.endpoints.map((e) => `${e.hostName}/${e.bridgeName} ${e.overlayMtu}`).join(', ')}: ${d.overlayMtu} through the tunnel`,
    );
  } catch (e) {
    if (planStarted && isUnknownOutcome(e)) {
      await markUnknown(ctx, tunnel, e);
      throw e;
    }
    // A failed create leaves no record: both hosts were put back as they were.
    await ctx.store.deleteResource(id);
    throw e;
  }
}

async function removeTunnel(ctx: JobContext, tunnel: TypedResource<'tunnel'>): Promise<void> {
  const d = tunnel.data;
  const ends = await readBothEnds(ctx, d);
  ends.forEach((o, i) => {
    const e = d.endpoints[i]!;
    if (!o.exists) ctx.log(e.hostName, 'info', `${e.portName} is already gone`);
    else if (o.owner !== tunnel.id)
      ctx.log(e.hostName, 'info', `${e.portName} is not this tunnel's (${o.owner ? `marked ${o.owner}` : 'unmarked'}): left in place`);
  });
  const del = deleteTunnelPlan(tunnel.id, d, ends);
  await ctx.runPlan({ steps: [...tunnelImpairmentDeleteSteps(tunnel.id, d), ...del.steps] });
  await ctx.store.deleteResource(tunnel.id);
  await refreshOverlayMtu(
    ctx.store,
    d.endpoints.map((e) => e.bridgeId),
  );
}

export interface TunnelObservation extends Observation {
  endpoints: TunnelEndObservation[];
}

export const tunnelKind: ResourceKind<'tunnel', TunnelView, TunnelObservation> = {
  type: 'tunnel',
  noun: 'tunnel',
  lockMode: 'exclusive',
  describe: (tunnel) => tunnel.id,
  render: renderTunnel,
  find: async (store, ref) => (idPattern('tunnel').test(ref) ? await readResource(store, 'tunnel', ref) : null),
  hosts: (tunnel) => tunnel.data.endpoints.map((e) => e.hostId),
  dependents: () => Promise.resolve([]),
  resume: {
    create: { run: (ctx, id) => createTunnel(ctx, id), successStatus: 201 },
    update: {
      run: (ctx, id, params) => updateTunnelLive(ctx, id, TunnelDataSchema.parse(params?.previous)),
      successStatus: 200,
      params: { previous: (v) => TunnelDataSchema.parse(v) },
    },
    delete: true,
  },
  async observe(hosts, tunnel) {
    const d = tunnel.data;
    const endpoints = await Promise.all(
      d.endpoints.map(async (e) => {
        const o = parseEnd(e, await hosts.read(e.hostId, endCommands(e)));
        const impaired = await observeTunnelEndImpairment(hosts, tunnel.id, d, d.endpoints.indexOf(e) as 0 | 1);
        return { hostName: e.hostName, portName: e.portName, ...o, drift: [...endDrift(tunnel.id, d, e, o), ...impaired] };
      }),
    );
    // The tunnel's drift: each end's, named by its host.
    const drift = endpoints.flatMap((e) => e.drift.map((item) => ({ ...item, field: `${e.hostName}:${item.field}` })));
    return { observedAt: new Date().toISOString(), endpoints, drift };
  },
  remove: (ctx, tunnel) => removeTunnel(ctx, tunnel),
};
