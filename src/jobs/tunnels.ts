/** Tunnel jobs: both ends in one job under both hosts' locks; the bridges' overlay MTU follows the tunnels on them. */
import type { BridgeData } from '../model/bridges.js';
import { ProblemError } from '../model/problems.js';
import type { TunnelData, TunnelEndObservation } from '../model/tunnels.js';
import { createTunnelPlan, deleteTunnelPlan, endCommands, endDrift, overlayMtu, parseEnd, type EndState } from '../ops/tunnels.js';
import type { HostServices } from '../exec/pool.js';
import type { ResourceRecord, Store } from '../store/types.js';
import { dependentDeleters } from './dependents.js';
import { undo, type JobContext } from './runner.js';
import { touch } from './records.js';
import { runNamed } from '../exec/run-named.js';


/** Both ends as the hosts have them now (read in parallel; each host's commands go to its own executor). */
async function readEnds(ctx: JobContext, d: TunnelData, only?: (i: number) => boolean): Promise<[EndState, EndState]> {
  const ends = await Promise.all(d.endpoints.map(async (e, i) => {
    if (only && !only(i)) return null;
    const outs = await runNamed(endCommands(e), (argv) => ctx.run(e.hostId, argv));
    return parseEnd(e, outs);
  }));
  return ends as [EndState, EndState];
}

export async function createTunnel(ctx: JobContext, id: string): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as TunnelData;
  try {
    const before = await readEnds(ctx, d);
    before.forEach((o, i) => {
      const e = d.endpoints[i]!;
      if (!o.exists || o.owner === id) return;
      const what = e.bridgeType === 'ovs' ? 'an OVS interface' : 'a network device';
      throw new ProblemError('conflict', `${e.hostName} already has ${what} named ${e.portName}${o.owner ? ` (marked by netplumb resource ${o.owner})` : ' (not made by netplumb)'}; choose another portName`, {
        errors: [{ pointer: `/endpoints/${i}/portName`, detail: 'already exists on the host' }],
      });
    });
    const plan = createTunnelPlan(id, d, before);
    await ctx.runPlan(plan);
    // ovs-vsctl succeeds once the row is written; whether ovs-vswitchd could make the port shows in error/ofport.
    const after = await readEnds(ctx, d, (i) => d.endpoints[i]!.bridgeType === 'ovs');
    const broken = after.map((o, i) => ({ o, e: d.endpoints[i]! })).filter(({ o }) => o && o.exists && (o.error || (o.ofport !== null && o.ofport < 0)));
    if (broken.length) {
      await undo(ctx, plan.steps);
      const { o, e } = broken[0]!;
      throw new ProblemError('command-failed', `Open vSwitch on ${e.hostName} could not create tunnel port ${e.portName}: ${o.error ?? `ofport ${o.ofport}`}`, { host: e.hostName });
    }
    touch(ctx.store, rec, { state: 'ready' });
    refreshOverlayMtu(ctx.store, d.endpoints.map((e) => e.bridgeId));
    ctx.log(null, 'info', `overlay MTU ${d.endpoints.map((e) => `${e.hostName}/${e.bridgeName} ${e.overlayMtu}`).join(', ')}: ${d.overlayMtu} through the tunnel`);
  } catch (e) {
    // A failed create leaves no record: both hosts were put back as they were.
    ctx.store.deleteResource(id);
    throw e;
  }
}

export async function deleteTunnel(ctx: JobContext, id: string): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as TunnelData;
  try {
    const ends = await readEnds(ctx, d);
    ends.forEach((o, i) => {
      const e = d.endpoints[i]!;
      if (!o.exists) ctx.log(e.hostName, 'info', `${e.portName} is already gone`);
      else if (o.owner !== id) ctx.log(e.hostName, 'info', `${e.portName} is not this tunnel's (${o.owner ? `marked ${o.owner}` : 'unmarked'}): left in place`);
    });
    await ctx.runPlan(deleteTunnelPlan(id, d, ends));
    ctx.store.deleteResource(id);
    refreshOverlayMtu(ctx.store, d.endpoints.map((e) => e.bridgeId));
  } catch (e) {
    if (ctx.store.getResource(id)) touch(ctx.store, rec, { state: 'ready' });
    throw e;
  }
}

// A cascading bridge delete removes its tunnels through this (its job already holds both hosts' locks).
dependentDeleters.tunnel = (ctx, rec) => deleteTunnel(ctx, rec.id);

/**
 * Recomputes the tunnels on these bridges from the bridges' current MTU, then every affected bridge's overlayMtu:
 * the lowest overlay MTU of the tunnels on it, null when none is left. Runs under the job's host locks.
 */
export function refreshOverlayMtu(store: Store, bridgeIds: readonly string[]): void {
  store.tx(() => {
    const tunnels = store.listResources('tunnel', { limit: 10_000 }).items.filter((t) => t.state === 'ready' || t.state === 'deleting');
    const bridges = new Set(bridgeIds);
    const affected = new Set(bridgeIds);
    for (const t of tunnels) {
      const d = t.data as unknown as TunnelData;
      if (!d.endpoints.some((e) => bridges.has(e.bridgeId))) continue;
      let changed = false;
      for (const e of d.endpoints) {
        affected.add(e.bridgeId);
        const b = store.getResource(e.bridgeId);
        if (!b) continue;
        const m = overlayMtu((b.data as unknown as BridgeData).mtu, d.type, { ipv6: e.remoteIp.includes(':'), key: d.key });
        if (m !== e.overlayMtu) { e.overlayMtu = m; changed = true; }
      }
      const min = Math.min(...d.endpoints.map((e) => e.overlayMtu));
      if (min !== d.overlayMtu) { d.overlayMtu = min; changed = true; }
      if (changed) touch(store, t, { data: d as never });
    }
    for (const id of affected) {
      const b = store.getResource(id);
      if (!b || b.type !== 'bridge') continue;
      const on = tunnels.filter((t) => (t.data as unknown as TunnelData).endpoints.some((e) => e.bridgeId === id));
      const v = on.length ? Math.min(...on.map((t) => (t.data as unknown as TunnelData).overlayMtu)) : null;
      const bd = b.data as unknown as BridgeData;
      if (bd.overlayMtu !== v) touch(store, b, { data: { ...bd, overlayMtu: v } as never });
    }
  });
}

/** Reads both ends' live state (no job: read-only) and what differs from the tunnel's spec. */
export async function observeTunnel(hosts: HostServices, store: Store, rec: ResourceRecord): Promise<{ observedAt: string; endpoints: TunnelEndObservation[] }> {
  const d = rec.data as unknown as TunnelData;
  const endpoints = await Promise.all(d.endpoints.map(async (e) => {
    const ex = hosts.executor(store.getResource(e.hostId)!);
    const outs = await runNamed(endCommands(e), (argv) => ex.run(argv, { timeoutMs: 15_000 }));
    const o = parseEnd(e, outs);
    return { hostName: e.hostName, portName: e.portName, ...o, drift: endDrift(rec.id, d, e, o) };
  }));
  return { observedAt: new Date().toISOString(), endpoints };
}
