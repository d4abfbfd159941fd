/**
 * Repair: make a host have what the records say, for objects the service owns only. Each repair reads what the host
 * has, logs what differs, and re-creates what is missing or resets what differs, as plan steps (with undo where a step
 * creates something). An object of that name marked by another owner, or not marked, is never touched: 409.
 * Bridges go first (their ports need them), then tunnels, then attachments.
 */
import { mustRead, parseRecord, readAll, readResource, saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import { ProblemError } from '../model/problems.js';
import type { AnyResource } from '../model/resource-data.js';
import { bridgeDrift, bridgeFactCommands, createBridgePlan, observeCommands, parseBridgeFacts, parseObservation } from '../ops/bridges.js';
import { step, vsctl, type Step } from '../ops/plan.js';
import { endDrift, endSteps } from '../ops/tunnels.js';
import { repairAttachment } from './attachment.js';
import { removeAny } from './index.js';
import { readBothEnds } from './tunnel.js';
import { observeTunnelEndImpairment, tunnelImpairmentPlan, tunnelState, type TunnelLive } from './impairments.js';
import { ovsPortShow, parseOvsPortLink, parseTunnelEndImpairment, tunnelEndImpairmentCommands } from '../ops/impairments-observe.js';
import type { LinkState } from '../model/impairments.js';
import type { TunnelData } from '../model/tunnels.js';
import { jobReader } from './kind.js';
import { isUnknownOutcome } from './unknown.js';

export async function repairBridgeItself(ctx: JobContext, id: string): Promise<void> {
  const bridge = await mustRead(ctx.store, 'bridge', id);
  const d = bridge.data;
  const out = await ctx.read(d.hostId, { ...observeCommands(d), ...bridgeFactCommands(d) });
  const facts = parseBridgeFacts(out);
  const o = parseObservation(d, out);
  if (facts.exists && facts.kind !== d.type) {
    throw new ProblemError(
      'conflict',
      `${d.hostName} has a ${facts.kind === 'other' ? 'non-bridge device' : `${facts.kind} bridge`} named ${d.name}: left alone`,
    );
  }
  if (facts.exists && facts.owner !== id && !d.adopted) {
    throw new ProblemError(
      'conflict',
      `${d.name} on ${d.hostName} is not this bridge's (${facts.owner ? `marked ${facts.owner}` : 'not made by netplumb'}): left alone`,
    );
  }
  const drift = bridgeDrift(id, d, o);
  if (!drift.length) ctx.log(d.hostName, 'info', `bridge ${d.name}: no drift`);
  else {
    ctx.log(
      d.hostName,
      'info',
      `bridge ${d.name}: ${facts.exists ? 'resetting' : 're-creating'} (${drift.map((x) => x.field).join(', ')})`,
    );
    const extra: Step[] = o.addresses
      .filter((a) => !d.addresses.includes(a))
      .map((a) => step(d.hostId, `remove address ${a} from ${d.name}`, ['ip', 'addr', 'del', a, 'dev', d.name], { okExitCodes: [0, 2] }));
    await ctx.runPlan({ steps: [...createBridgePlan(id, d, facts).steps, ...extra] });
  }
  await saveResource(ctx.store, bridge, { state: 'ready' });
}

export async function repairTunnel(ctx: JobContext, id: string): Promise<void> {
  const tunnel = await mustRead(ctx.store, 'tunnel', id);
  const d = tunnel.data;
  const ends = await readBothEnds(ctx, d);
  const steps: Step[] = [];
  d.endpoints.forEach((e, i) => {
    const o = ends[i]!;
    if (o.exists && o.owner !== id) {
      throw new ProblemError(
        'conflict',
        `${e.portName} on ${e.hostName} is not this tunnel's (${o.owner ? `marked ${o.owner}` : 'not made by netplumb'}): left alone`,
      );
    }
    const drift = endDrift(id, d, e, o);
    if (!drift.length) return ctx.log(e.hostName, 'info', `tunnel end ${e.portName}: no drift`);
    ctx.log(
      e.hostName,
      'info',
      `tunnel end ${e.portName}: ${o.exists ? 'resetting' : 're-creating'} (${drift.map((x) => x.field).join(', ')})`,
    );
    const settings = drift.some((x) => ['kind', 'remote_ip', 'key', 'dst_port', 'bridge'].includes(x.field));
    if (o.exists && settings && (e.bridgeType === 'linux' || (o.bridge && o.bridge !== e.bridgeName))) {
      // A device with other settings (or an OVS port on another bridge) is made again.
      steps.push(
        e.bridgeType === 'ovs'
          ? step(e.hostId, `remove ${e.portName} from ${o.bridge}`, vsctl('--if-exists', 'del-port', o.bridge!, e.portName))
          : step(e.hostId, `delete ${e.portName} (other settings)`, ['ip', 'link', 'del', 'dev', e.portName]),
      );
      steps.push(...endSteps(id, d, e, { exists: false, owner: null }));
    } else steps.push(...endSteps(id, d, e, { exists: o.exists, owner: o.owner }));
  });
  // Impairments and the cable (issue 17): made again on re-created ends, reset where they drifted — from what the
  // host has now (nothing on a re-created end) to what the record says.
  const impairmentDrift = (await Promise.all([0, 1].map((i) => observeTunnelEndImpairment(jobReader(ctx), id, d, i as 0 | 1)))).flat();
  const desired = tunnelState(d);
  const impaired = desired.link === 'down' || Object.values(desired.impairment).some((x) => Object.keys(x ?? {}).length > 0);
  if (impairmentDrift.length || (steps.length && impaired)) {
    ctx.log(
      null,
      'info',
      `tunnel ${id}: impairments and cable reset (${impairmentDrift.map((x) => x.field).join(', ') || 're-created ends'})`,
    );
    steps.push(...(await tunnelImpairmentPlan(ctx.store, id, d, await observedTunnelLive(ctx, id, d, ends), desired)).steps);
  }
  if (steps.length) await ctx.runPlan({ steps });
  await saveResource(ctx.store, tunnel, { state: 'ready' });
}

/**
 * A tunnel's impairments as its ends have them now (what a plan to the desired state starts from). An end that is
 * missing or about to be made has none. The cable: the desired state when every end has it, else the other one, so
 * the plan sets it on both ends (setting a link is idempotent).
 */
async function observedTunnelLive(ctx: JobContext, id: string, d: TunnelData, ends: readonly { exists: boolean }[]): Promise<TunnelLive> {
  const desired = tunnelState(d);
  const links: (LinkState | null)[] = [];
  const specs = await Promise.all(
    d.endpoints.map(async (e, i) => {
      if (!ends[i]!.exists) {
        links.push(null);
        return {};
      }
      if (e.bridgeType !== 'linux') {
        const show = await ctx.read(e.hostId, { show: ovsPortShow(e.bridgeName) });
        links.push(parseOvsPortLink(show.show, e.portName));
        return {};
      }
      const o = parseTunnelEndImpairment(await ctx.read(e.hostId, tunnelEndImpairmentCommands(id, e.portName)));
      links.push(o.link);
      return o.spec;
    }),
  );
  const same = links.every((l) => l === desired.link);
  return { impairment: { aToB: specs[0]!, bToA: specs[1]! }, link: same ? desired.link : desired.link === 'down' ? 'up' : 'down' };
}

/** What a repair of this resource covers, in order: a bridge brings its tunnels and attachments back too. */
export async function repairScope(ctx: Pick<JobContext, 'store'>, r: AnyResource): Promise<AnyResource[]> {
  const store = ctx.store;
  const live = (x: AnyResource) => x.state !== 'pending' && x.state !== 'deleting';
  switch (r.type) {
    case 'bridge': {
      const tunnels = (await readAll(store, 'tunnel')).filter((t) => t.data.endpoints.some((e) => e.bridgeId === r.id));
      return [r, ...tunnels, ...(await readAll(store, 'attachment', { bridgeId: r.id }))].filter(live);
    }
    case 'host': {
      const bridges = await readAll(store, 'bridge', { hostId: r.id });
      const tunnels = (await readAll(store, 'tunnel')).filter((t) => t.data.endpoints.some((e) => e.hostId === r.id));
      return [...bridges, ...tunnels, ...(await readAll(store, 'attachment', { hostId: r.id }))].filter(live);
    }
    case 'topology': {
      const order: Record<string, number> = { bridge: 0, tunnel: 1, attachment: 2 };
      return (await Promise.all(Object.values(r.data.owned).map(async (id) => await store.getResource(id))))
        .filter((x) => x !== null && x.type in order)
        .map((x) => parseRecord(x!.type as 'bridge' | 'tunnel' | 'attachment', x!) as AnyResource)
        .filter(live)
        .sort((a, b) => order[a.type]! - order[b.type]!);
    }
    case 'tunnel':
    case 'attachment':
      return [r].filter(live);
  }
}

/** Repairs one bridge, tunnel or attachment (hosts and topologies are repaired through their scope). */
export async function repairOne(ctx: JobContext, r: AnyResource): Promise<void> {
  if (r.type === 'bridge') return repairBridgeItself(ctx, r.id);
  if (r.type === 'tunnel') return repairTunnel(ctx, r.id);
  if (r.type === 'attachment') return repairAttachment(ctx, r.id);
}

/**
 * Repairs everything in scope, each on its own: one that cannot be repaired is logged and the rest still are; the job
 * fails at the end naming them (the first problem is the job's). A failed one keeps its state, an unknown outcome
 * leaves the record `unknown`.
 */
export async function repairAll(ctx: JobContext, scope: AnyResource[]): Promise<void> {
  const failures: { r: AnyResource; e: unknown }[] = [];
  for (const r of scope) {
    try {
      await repairOne(ctx, r);
    } catch (e) {
      failures.push({ r, e });
      ctx.log(null, 'error', `repair of ${r.type} ${r.id} failed: ${e instanceof Error ? e.message : String(e)}`);
      const current = await readResource(ctx.store, r.type, r.id);
      if (current && isUnknownOutcome(e)) await saveResource(ctx.store, current, { state: 'unknown' });
    }
  }
  if (!failures.length) return;
  const first = failures[0]!.e;
  if (failures.length === 1 && first instanceof Error) throw first;
  const detail = `${failures.length} of ${scope.length} resource(s) could not be repaired: ${failures.map((f) => f.r.id).join(', ')}; see the job log`;
  if (first instanceof ProblemError) throw ProblemError.from({ ...first.problem, detail, failed: failures.map((f) => f.r.id) });
  throw first;
}

/**
 * An `unknown` record once its host answers: finish it (repair), or when that is impossible for a reason that is known
 * (the container is gone, a name is taken), undo it: its own objects are removed and the record goes.
 */
export async function resolveUnknown(ctx: JobContext, r: AnyResource): Promise<void> {
  try {
    await repairOne(ctx, r);
    ctx.log(null, 'info', `${r.type} ${r.id}: finished (was unknown), now ready`);
  } catch (e) {
    if (isUnknownOutcome(e)) throw e;
    ctx.log(null, 'info', `${r.type} ${r.id} cannot be finished (${e instanceof Error ? e.message : String(e)}): undoing it`);
    const current = await readResource(ctx.store, r.type, r.id);
    if (current) await removeAny(ctx, current as AnyResource, { cascade: false });
    ctx.log(null, 'info', `${r.type} ${r.id}: undone and removed`);
  }
}
