/** Bridge jobs: look at the host, build the plan, run it, record the outcome. */
import type { BridgeData } from '../model/bridges.js';
import { ProblemError } from '../model/problems.js';
import { bridgeDrift, bridgeFactCommands, createBridgePlan, deleteBridgePlan, observeCommands, parseBridgeFacts, parseObservation, updateBridgePlan, type BridgeFacts } from '../ops/bridges.js';
import type { HostServices } from '../exec/pool.js';
import type { ResourceRecord, Store } from '../store/types.js';
import type { JobContext } from './runner.js';
import { runNamed } from '../exec/run-named.js';
import { ipLinkShow, parseIpJson } from '../ops/links.js';
import { touch } from './records.js';
import { refreshOverlayMtu } from './tunnels.js';

export async function readBridgeFacts(ctx: JobContext, d: BridgeData): Promise<BridgeFacts> {
  return parseBridgeFacts(await runNamed(bridgeFactCommands(d), (argv) => ctx.run(d.hostId, argv)));
}


export async function createBridge(ctx: JobContext, id: string): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as BridgeData;
  try {
    const facts = await readBridgeFacts(ctx, d);
    if (facts.exists) {
      if (facts.kind !== d.type) {
        throw new ProblemError('conflict', `${d.hostName} already has a ${facts.kind === 'other' ? 'non-bridge device' : `${facts.kind} bridge`} named ${d.name}`, { errors: [{ pointer: '/name', detail: 'already used on the host' }] });
      }
      if (facts.owner === id) ctx.log(d.hostName, 'info', `${d.name} already carries this bridge's mark: converging it`);
      else if (d.adopted) ctx.log(d.hostName, 'info', `adopting ${d.name}${facts.owner ? ` (was marked ${facts.owner})` : ''}`);
      else {
        throw new ProblemError('conflict', `${d.hostName} already has a bridge named ${d.name}${facts.owner ? ` (marked by netplumb resource ${facts.owner})` : ' (not made by netplumb)'}; pass "adopt": true to take it over`, { errors: [{ pointer: '/name', detail: 'already exists on the host' }] });
      }
    }
    await ctx.runPlan(createBridgePlan(id, d, facts));
    touch(ctx.store, rec, { state: 'ready' });
  } catch (e) {
    // A failed create leaves no record: the host was put back as it was.
    ctx.store.deleteResource(id);
    throw e;
  }
}

export async function updateBridge(ctx: JobContext, id: string, previous: BridgeData): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as BridgeData;
  try {
    let liveMtu: number | null = null;
    if (d.type === 'linux' && d.mtu !== null && previous.mtu === null) {
      liveMtu = parseIpJson((await ctx.run(d.hostId, ipLinkShow(d.name))).stdout)[0]?.mtu ?? null;
    }
    await ctx.runPlan(updateBridgePlan(d, previous, liveMtu));
    touch(ctx.store, rec, { state: 'ready' });
    // The overlay MTU of the tunnels on this bridge follows its MTU.
    if (d.mtu !== previous.mtu) refreshOverlayMtu(ctx.store, [id]);
  } catch (e) {
    // overlayMtu belongs to the tunnels (it may have changed since the PATCH was accepted): keep the current one.
    const overlayMtu = (ctx.store.getResource(id)?.data as unknown as BridgeData | undefined)?.overlayMtu ?? previous.overlayMtu;
    touch(ctx.store, rec, { data: { ...previous, overlayMtu } as never, state: 'ready' });
    throw e;
  }
}

export async function deleteBridge(ctx: JobContext, id: string, opts: { cascade: boolean; deleteDependents: () => Promise<void> }): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as BridgeData;
  try {
    if (opts.cascade) await opts.deleteDependents();
    const outs = await runNamed(observeCommands(d), (argv) => ctx.run(d.hostId, argv));
    const o = parseObservation(d, outs);
    const foreign = o.ports.filter((p) => p.name !== d.name);
    if (foreign.length && !opts.cascade) {
      throw new ProblemError('conflict', `${d.name} on ${d.hostName} still has ports in use (${foreign.map((p) => p.name).join(', ')}); delete them first or pass ?cascade=true`);
    }
    await ctx.runPlan(deleteBridgePlan(d, { exists: o.exists, kind: d.type, owner: o.owner }));
    ctx.store.deleteResource(id);
  } catch (e) {
    if (ctx.store.getResource(id)) touch(ctx.store, rec, { state: 'ready' });
    throw e;
  }
}

/** Reads a bridge's live state (no job: read-only) and what differs from its spec. */
export async function observeBridge(hosts: HostServices, store: Store, rec: ResourceRecord) {
  const d = rec.data as unknown as BridgeData;
  const host = store.getResource(d.hostId)!;
  const ex = hosts.executor(host);
  const outs = await runNamed(observeCommands(d), (argv) => ex.run(argv, { timeoutMs: 15_000 }));
  const o = parseObservation(d, outs);
  return { observedAt: new Date().toISOString(), ...o, drift: bridgeDrift(rec.id, d, o) };
}
