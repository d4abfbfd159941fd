/**
 * Topologies as a kind: the plan of an apply (what changes, where, with which commands and how disruptive), the
 * apply job (reads, then the changes as batches: one round trip per host per phase, hosts in parallel, undone on
 * every host on failure) and the delete job.
 *
 * Phases of an apply, in order:
 *   1. the old half of each replacement (a tunnel or member re-wired): removed first, as its names are reused;
 *   2. creates and in-place changes: bridges, tunnels, members — one plan, undone as a whole on failure;
 *   3. what the document no longer has: members, tunnels, then bridges.
 * A failure in 2 puts the hosts back as they were before 2; what 1 removed stays removed (re-apply converges).
 */
import { byName, namedEntries } from '../exec/named.js';
import { nowIso, parseRecord, readResource, saveResource } from '../jobs/records.js';
import { undo, type JobContext } from '../jobs/runner.js';
import type { AttachmentData } from '../model/attachments.js';
import { ProblemError } from '../model/problems.js';
import type { DriftItem } from '../model/resource.js';
import type { TopologyChange, TopologyDocument, TopologyPlan, TopologyView } from '../model/topologies.js';
import { attachmentFactCommands, attachPlan, detachPlan, linkNames, netnsPath, updateAttachmentPlan } from '../ops/attachments.js';
import {
  bridgeFactCommands,
  createBridgePlan,
  deleteBridgePlan,
  observeCommands,
  parseBridgeFacts,
  parseObservation,
  updateBridgePlan,
  type BridgeFacts,
} from '../ops/bridges.js';
import { parseIpJson } from '../ops/links.js';
import type { Plan, Step } from '../ops/plan.js';
import { createTunnelPlan, deleteTunnelPlan, endCommands, parseEnd, type EndFacts, type EndState } from '../ops/tunnels.js';
import { commandLine } from '../jobs/plan-runner.js';
import { coalesce } from '../ops/coalesce.js';
import type { Store } from '../store/types.js';
import { observeAttachment } from './attachment.js';
import { resolveTarget, type ResolvedTarget } from './attachment-target.js';
import { bridgeKind } from './bridge.js';
import type { HostReader, Observation, ResourceKind, TypedResource } from './kind.js';
import { readByKeyOrId } from './topology-refs.js';
import { diffTopology, impact, type Change } from './topology-diff.js';
import { resolveTopology, topologyData, type DesiredTopology } from './topology-resolve.js';
import { tunnelKind } from './tunnel.js';
import { attachmentState, impairmentDetachSteps, trafficControlFacts } from './impairments.js';
import { attachmentImpairmentSteps } from '../ops/impairments.js';
import type { TrafficControlFacts } from '../model/impairments.js';
import { dockerBindings, dockerMembers, observeDockerMembers, removeDockerNetworks, syncDockerNetworks } from './topology-docker.js';

// ---- what the hosts have (read before planning; one batch per host)

interface Facts {
  bridges: Map<string, BridgeFacts>;
  tunnelEnds: Map<string, [EndFacts, EndFacts]>;
  /** slot → how the member's target is reached */
  targets: Map<string, ResolvedTarget>;
  /** slot → inside links / host end present */
  attachments: Map<string, { hostEndExists: boolean; innerNames: string[]; hostNamespace: boolean }>;
  /** slot of a bridge to delete → what is on the host */
  bridgeObservations: Map<string, BridgeFacts>;
  /** host id → its traffic-control facts (impairments); absent in a dry run */
  trafficControl?: Map<string, TrafficControlFacts | null>;
}

const ASSUMED: Facts = {
  bridges: new Map(),
  tunnelEnds: new Map(),
  targets: new Map(),
  attachments: new Map(),
  bridgeObservations: new Map(),
};

/** A stand-in for a container's namespace in a dry run (the pid is only known when the job runs). */
const placeholderTarget = (d: AttachmentData): ResolvedTarget =>
  'container' in d.target
    ? {
        netnsPath: `/proc/<pid of ${d.target.container}>/ns/net`,
        nsRef: `<pid:${d.target.container}>`,
        pid: null,
        containerId: null,
        containerName: d.target.container,
      }
    : {
        netnsPath: netnsPath(d.target),
        nsRef: 'netns' in d.target ? d.target.netns : String(d.target.pid),
        pid: null,
        containerId: null,
        containerName: null,
      };

async function readFacts(ctx: JobContext, changes: Change[]): Promise<Facts> {
  const facts: Facts = {
    bridges: new Map(),
    tunnelEnds: new Map(),
    targets: new Map(),
    attachments: new Map(),
    bridgeObservations: new Map(),
  };
  const trafficControl = new Map<string, TrafficControlFacts | null>();
  for (const c of changes)
    if (c.kind === 'attachment' && c.desired && !trafficControl.has(c.desired.data.hostId))
      trafficControl.set(c.desired.data.hostId, await trafficControlFacts(ctx.store, c.desired.data.hostId));
  facts.trafficControl = trafficControl;
  // Containers first (Docker, in parallel): the namespace paths go into the reads.
  await Promise.all(
    changes.map(async (c) => {
      if (c.kind === 'attachment' && c.desired && c.action !== 'delete')
        facts.targets.set(c.slot, await resolveTarget(ctx, c.desired.data));
    }),
  );
  const perHost = new Map<string, Record<string, string[]>>();
  const ask = (hostId: string, key: string, argv: string[]) => {
    const m = perHost.get(hostId) ?? {};
    m[key] = argv;
    perHost.set(hostId, m);
  };
  changes.forEach((c, i) => {
    if (c.kind === 'bridge' && c.action === 'create')
      for (const [k, argv] of namedEntries(bridgeFactCommands(c.desired!.data))) ask(c.desired!.data.hostId, `${i}|${k}`, argv);
    if (c.kind === 'bridge' && c.action === 'delete' && c.current)
      for (const [k, argv] of namedEntries(observeCommands(c.current.data))) ask(c.current.data.hostId, `${i}|${k}`, argv);
    if (c.kind === 'tunnel' && c.desired && c.action !== 'delete') {
      // The underlay between the ends: a ping from each end to the other's tunnelIp.
      c.desired.data.endpoints.forEach((e, n) => ask(e.hostId, `${i}|reach${n}`, ['ping', '-c', '1', '-W', '1', e.remoteIp]));
    }
    if (c.kind === 'tunnel') {
      for (const t of [c.current, c.desired].filter((x) => x !== null)) {
        t.data.endpoints.forEach((e, n) => {
          for (const [k, argv] of Object.entries(endCommands(e))) ask(e.hostId, `${i}|${t === c.current ? 'old' : 'new'}${n}|${k}`, argv);
        });
      }
    }
    if (c.kind === 'attachment') {
      if (c.current && c.action !== 'update')
        ask(c.current.data.hostId, `${i}|oldHostEnd`, ['ip', '-j', 'link', 'show', 'dev', c.current.data.hostIfname]);
      const target = facts.targets.get(c.slot);
      if (c.desired && target && c.action !== 'delete' && c.action !== 'update') {
        for (const [k, argv] of namedEntries(attachmentFactCommands(target.netnsPath, c.desired.data.hostIfname)))
          ask(c.desired.data.hostId, `${i}|${k}`, argv);
      }
    }
  });
  const answers = new Map<string, { exitCode: number; stdout: string; stderr: string }>();
  await Promise.all(
    [...perHost].map(async ([hostId, cmds]) => {
      for (const [k, r] of Object.entries(await ctx.read(hostId, cmds))) answers.set(k, r);
    }),
  );
  const pick = (prefix: string) => {
    const out: Record<string, { exitCode: number; stdout: string }> = {};
    for (const [k, v] of answers) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
    return out;
  };
  changes.forEach((c, i) => {
    if (c.kind === 'bridge' && c.action === 'create') {
      const r = pick(`${i}|`);
      facts.bridges.set(c.slot, parseBridgeFacts({ link: r.link!, ovsExists: r.ovsExists, ovsOwner: r.ovsOwner }));
    }
    if (c.kind === 'bridge' && c.action === 'delete' && c.current) {
      const o = parseObservation(c.current.data, pick(`${i}|`));
      facts.bridgeObservations.set(c.slot, { exists: o.exists, kind: c.current.data.type, owner: o.owner });
    }
    if (c.kind === 'tunnel' && c.desired && c.action !== 'delete') {
      c.desired.data.endpoints.forEach((e, n) => {
        const r = answers.get(`${i}|reach${n}`);
        // 1: no answer (ICMP may be filtered: the tunnel may still work); anything else: no route, no such address.
        if (r && r.exitCode === 1)
          ctx.log(
            e.hostName,
            'info',
            `warning: ${e.remoteIp} did not answer a ping from ${e.hostName}; the tunnel needs the underlay between them`,
          );
        else if (r && r.exitCode !== 0)
          throw new ProblemError(
            'conflict',
            `${e.hostName} cannot reach ${e.remoteIp} (the other end's tunnelIp) on the underlay: ${r.stderr.trim() || `ping exit ${r.exitCode}`}`,
          );
      });
    }
    if (c.kind === 'tunnel') {
      for (const which of ['old', 'new'] as const) {
        const t = which === 'old' ? c.current : c.desired;
        if (!t) continue;
        const ends = [0, 1].map((n) => parseEnd(t.data.endpoints[n]!, pick(`${i}|${which}${n}|`))) as [EndState, EndState];
        facts.tunnelEnds.set(`${which}:${c.slot}`, ends);
      }
    }
    if (c.kind === 'attachment') {
      const r = pick(`${i}|`);
      const [hostNs, targetNs] = (r.nsInodes?.stdout ?? '').trim().split('\n');
      facts.attachments.set(c.slot, {
        hostEndExists: r.oldHostEnd?.exitCode === 0,
        innerNames: r.innerLinks?.exitCode === 0 ? linkNames(r.innerLinks.stdout) : [],
        hostNamespace: !!hostNs && hostNs === targetNs,
      });
      if (c.desired && c.action !== 'delete' && c.action !== 'update') {
        if (r.nsInodes && (r.nsInodes.exitCode !== 0 || r.innerLinks?.exitCode !== 0)) {
          throw new ProblemError(
            'not-found',
            `${c.desired.member}: the target's network namespace does not exist on ${c.desired.data.hostName}`,
          );
        }
        if (r.hostLink?.exitCode === 0 && !(c.current && c.current.data.hostIfname === c.desired.data.hostIfname)) {
          const alias = parseIpJson(r.hostLink.stdout)[0]?.alias ?? null;
          throw new ProblemError(
            'conflict',
            `${c.desired.data.hostIfname} already exists on ${c.desired.data.hostName}${alias ? ` (${alias})` : ''}`,
          );
        }
      }
    }
  });
  return facts;
}

// ---- the plan

function endFacts(facts: Facts, key: string): [EndFacts, EndFacts] {
  return (
    facts.tunnelEnds.get(key) ?? [
      { exists: false, owner: null },
      { exists: false, owner: null },
    ]
  );
}

/** The steps of one change, by phase (see the top of this file). */
function stepsOf(c: Change, facts: Facts, dryRun: boolean): { replaceOld: Step[]; apply: Step[]; remove: Step[] } {
  const none: Step[] = [];
  switch (c.kind) {
    case 'bridge': {
      if (c.action === 'create') {
        const f = facts.bridges.get(c.slot) ?? { exists: false, kind: null, owner: null };
        if (f.exists && f.owner !== c.desired!.id) {
          throw new ProblemError(
            'conflict',
            `${c.desired!.data.hostName} already has ${f.kind === 'other' ? 'a device' : 'a bridge'} named ${c.desired!.data.name}${f.owner ? ` (marked ${f.owner})` : ' (not made by netplumb)'}`,
          );
        }
        return { replaceOld: none, apply: createBridgePlan(c.desired!.id, c.desired!.data, f).steps, remove: none };
      }
      if (c.action === 'update') return { replaceOld: none, apply: updateBridgePlan(c.desired!.data, c.current!.data).steps, remove: none };
      if (!c.current) return { replaceOld: none, apply: none, remove: none };
      const f =
        facts.bridgeObservations.get(c.slot) ??
        (dryRun ? { exists: true, kind: c.current.data.type, owner: c.current.id } : { exists: false, kind: null, owner: null });
      return { replaceOld: none, apply: none, remove: deleteBridgePlan(c.current.data, f).steps };
    }
    case 'tunnel': {
      const ownedEnds = (t: TypedResource<'tunnel'>): [EndFacts, EndFacts] =>
        dryRun
          ? [
              { exists: true, owner: t.id },
              { exists: true, owner: t.id },
            ]
          : endFacts(facts, `old:${c.slot}`);
      const old = c.current ? deleteTunnelPlan(c.current.id, c.current.data, ownedEnds(c.current)).steps : none;
      const made = c.desired
        ? createTunnelPlan(
            c.desired.id,
            c.desired.data,
            dryRun
              ? [
                  { exists: false, owner: null },
                  { exists: false, owner: null },
                ]
              : endFacts(facts, `new:${c.slot}`),
          ).steps
        : none;
      if (c.action === 'create') return { replaceOld: none, apply: made, remove: none };
      if (c.action === 'replace') return { replaceOld: old, apply: made, remove: none };
      return { replaceOld: none, apply: none, remove: old };
    }
    case 'attachment': {
      const a = facts.attachments.get(c.slot);
      const target = facts.targets.get(c.slot) ?? (c.desired ? placeholderTarget(c.desired.data) : null);
      const detach = c.current
        ? [...impairmentDetachSteps(c.current.id, c.current.data), ...detachPlan(c.current.data, dryRun || !!a?.hostEndExists).steps]
        : none;
      if (c.action === 'delete') return { replaceOld: none, apply: none, remove: detach };
      const d = c.desired!;
      const tc = facts.trafficControl?.get(d.data.hostId) ?? null;
      const impair = (from: AttachmentData | null, ifname: string) =>
        attachmentImpairmentSteps(
          { id: d.id, hostId: d.data.hostId, hostIfname: d.data.hostIfname, ifname, nsPath: target!.netnsPath },
          tc,
          attachmentState(from ?? {}),
          attachmentState(d.data),
        );
      if (c.action === 'update')
        return {
          replaceOld: none,
          apply: [
            ...updateAttachmentPlan(c.current!.data, d.data, target!.netnsPath).steps,
            ...impair(c.current!.data, d.data.ifname ?? c.current!.data.ifname ?? 'eth1'),
          ],
          remove: none,
        };
      if (a?.hostNamespace) throw new ProblemError('conflict', `${d.member}: the target is ${d.data.hostName}'s own network namespace`);
      if (a && a.innerNames.includes(d.data.ifname!) && c.action === 'create') {
        throw new ProblemError('conflict', `${d.member}: ${d.data.ifname} already exists in the target on ${d.data.hostName}`);
      }
      const attach = [
        ...attachPlan({ id: d.id, d: d.data, ifname: d.data.ifname!, nsPath: target!.netnsPath, nsRef: target!.nsRef }).steps,
        ...impair(null, d.data.ifname!),
      ];
      return { replaceOld: c.action === 'replace' ? detach : none, apply: attach, remove: none };
    }
  }
}

/** Phase order inside "apply" and "remove": bridges before what goes on them, and after it on removal. */
const APPLY_ORDER = { bridge: 0, tunnel: 1, attachment: 2 } as const;
const REMOVE_ORDER = { attachment: 0, tunnel: 1, bridge: 2 } as const;

interface BuiltPlan {
  replaceOld: Plan;
  apply: Plan;
  remove: Plan;
  /** per change: its steps, for the plan view */
  perChange: Map<Change, Step[]>;
}

function buildPlan(changes: Change[], facts: Facts, dryRun: boolean): BuiltPlan {
  const built: BuiltPlan = { replaceOld: { steps: [] }, apply: { steps: [] }, remove: { steps: [] }, perChange: new Map() };
  const byApply = [...changes].sort((a, b) => APPLY_ORDER[a.kind] - APPLY_ORDER[b.kind]);
  const byRemove = [...changes].sort((a, b) => REMOVE_ORDER[a.kind] - REMOVE_ORDER[b.kind]);
  const parts = new Map(changes.map((c) => [c, stepsOf(c, facts, dryRun)]));
  for (const c of byRemove) built.replaceOld.steps.push(...parts.get(c)!.replaceOld);
  for (const c of byApply) built.apply.steps.push(...parts.get(c)!.apply);
  for (const c of byRemove) built.remove.steps.push(...parts.get(c)!.remove);
  // Many members on one host: their veths in one ip -batch, their ports in one ovs-vsctl transaction.
  for (const plan of [built.replaceOld, built.apply, built.remove]) plan.steps = coalesce(plan.steps);
  for (const c of changes) {
    const p = parts.get(c)!;
    built.perChange.set(c, [...p.replaceOld, ...p.apply, ...p.remove]);
  }
  return built;
}

async function hostNamesOf(store: Store, ids: string[]): Promise<Map<string, string>> {
  return new Map(await Promise.all(ids.map(async (id) => [id, (await readResource(store, 'host', id))?.data.name ?? id] as const)));
}

/** The plan as data: what changes, where, how disruptive, with the commands (reads not included). */
export async function planView(
  store: Store,
  name: string,
  diff: { changes: Change[]; unchanged: string[] },
  desired: DesiredTopology,
  built: BuiltPlan,
): Promise<TopologyPlan> {
  const names = await hostNamesOf(store, [...new Set([...desired.hosts, ...[...built.perChange.values()].flat().map((s) => s.host)])]);
  const changes: TopologyChange[] = diff.changes.map((c) => {
    const steps = built.perChange.get(c) ?? [];
    const commands: Record<string, string[]> = {};
    for (const s of steps) (commands[names.get(s.host) ?? s.host] ??= []).push(commandLine(s.argv, s.stdin));
    const hosts = [...new Set(steps.map((s) => names.get(s.host) ?? s.host))];
    return {
      action: c.action,
      kind: c.kind,
      slot: c.slot,
      id: c.desired?.id ?? c.current?.id ?? null,
      hosts,
      fields: c.fields,
      commands,
      ...impact(c, desired),
    };
  });
  return { name, changes, unchanged: diff.unchanged, allocations: desired.allocations };
}

export interface PreparedApply {
  desired: DesiredTopology;
  diff: { changes: Change[]; unchanged: string[] };
  /** Every host the job touches (desired and current). */
  hostIds: string[];
}

/** Everything up to the job: resolve the document (all errors at once), diff it against what the topology owns. */
export async function prepareApply(
  store: Store,
  name: string,
  doc: TopologyDocument,
  previous: TypedResource<'topology'> | null,
): Promise<PreparedApply> {
  const desired = await resolveTopology(store, name, doc, previous);
  const diff = await diffTopology(store, previous?.data.owned ?? {}, desired);
  const hostIds = new Set(desired.hosts);
  for (const c of diff.changes) {
    if (c.kind === 'tunnel') for (const t of [c.current?.data, c.desired?.data]) for (const e of t?.endpoints ?? []) hostIds.add(e.hostId);
    else for (const d of [c.current?.data, c.desired?.data]) if (d) hostIds.add(d.hostId);
  }
  for (const h of previous?.data.hosts ?? []) hostIds.add(h);
  return { desired, diff, hostIds: [...hostIds].sort() };
}

export async function dryRunPlan(store: Store, name: string, prepared: PreparedApply): Promise<TopologyPlan> {
  return await planView(store, name, prepared.diff, prepared.desired, buildPlan(prepared.diff.changes, ASSUMED, true));
}

// ---- the jobs

const keyOf = {
  bridge: (d: { hostId: string; name: string }) => `${d.hostId}/${d.name}`,
  tunnel: (d: { endpoints: [{ bridgeId: string; portName: string }, unknown] }) => `${d.endpoints[0].bridgeId}|${d.endpoints[0].portName}`,
  attachment: (d: { hostId: string; hostIfname: string }) => `${d.hostId}/${d.hostIfname}`,
};

/** Stores what an applied change made (in the job's transaction). */
async function recordApplied(ctx: JobContext, c: Change, facts: Facts): Promise<void> {
  const now = nowIso();
  const put = async (type: 'bridge' | 'tunnel' | 'attachment', id: string, key: string, data: unknown) => {
    const rec = { id, type, key, state: 'ready', jobId: ctx.job.id, createdAt: now, updatedAt: now, data, secret: null };
    const existing = await ctx.store.getResource(id);
    if (existing) await ctx.store.updateResource({ ...rec, createdAt: existing.createdAt, version: existing.version });
    else await ctx.store.insertResource(rec);
  };
  if (c.action === 'delete') {
    if (c.current) await ctx.store.deleteResource(c.current.id);
    return;
  }
  if (c.kind === 'bridge') await put('bridge', c.desired!.id, keyOf.bridge(c.desired!.data), c.desired!.data);
  if (c.kind === 'tunnel') await put('tunnel', c.desired!.id, keyOf.tunnel(c.desired!.data), c.desired!.data);
  if (c.kind === 'attachment') {
    const t = facts.targets.get(c.slot);
    const resolved = t
      ? { pid: t.pid, containerId: t.containerId, containerName: t.containerName, netnsPath: t.netnsPath }
      : (c.current?.data.resolved ?? null);
    const data: AttachmentData = { ...c.desired!.data, resolved, txChecksumOffloadOff: c.desired!.data.datapathType === 'netdev' };
    await put('attachment', c.desired!.id, keyOf.attachment(data), data);
  }
}

/**
 * The apply job. `isNew`: the topology record was made for this request (a failure that leaves nothing removes it).
 */
export async function applyTopology(
  ctx: JobContext,
  topologyId: string,
  doc: TopologyDocument,
  prepared: PreparedApply,
  isNew: boolean,
): Promise<void> {
  const { desired, diff } = prepared;
  const topology = await readByKeyOrId(ctx.store, topologyId);
  if (!topology) throw new ProblemError('not-found', `topology ${topologyId} no longer exists`);
  const previousOwned = { ...topology.data.owned };
  ctx.log(null, 'info', `${diff.changes.length} change(s), ${diff.unchanged.length} unchanged`);
  let phase1Done = false;
  try {
    if (!diff.changes.length) {
      await syncDockerNetworks(
        ctx,
        await dockerBindings(ctx.store, topology.data.name, topology.data.document, previousOwned),
        await dockerBindings(ctx.store, topology.data.name, doc, previousOwned),
      );
      await ctx.store.tx(async () => {
        await refreshDerived(ctx.store, desired);
        await saveResource(ctx.store, topology, { data: topologyData(topology.data.name, doc, desired), state: 'ready' });
      });
      return;
    }
    const facts = await readFacts(ctx, diff.changes);
    const built = buildPlan(diff.changes, facts, false);
    // 1. The old halves of replacements.
    if (built.replaceOld.steps.length) {
      await ctx.runPlan(built.replaceOld);
      phase1Done = true;
    }
    // 2. Creates and changes: one plan, undone on every host if any step fails.
    await ctx.runPlan(built.apply);
    await checkOvsTunnels(ctx, diff.changes, built.apply);
    await ctx.store.tx(async () => {
      for (const c of diff.changes) if (c.action !== 'delete') await recordApplied(ctx, c, facts);
      await refreshDerived(ctx.store, desired);
      const owned = { ...previousOwned };
      for (const c of diff.changes) if (c.action !== 'delete') owned[c.slot] = c.desired!.id;
      await saveResource(ctx.store, topology, { data: { ...topologyData(topology.data.name, doc, desired), owned } });
    });
    // Docker: the networks the document publishes, on the hosts that now have its bridges (before 3 removes any).
    const ownedNow = (await readByKeyOrId(ctx.store, topologyId))?.data.owned ?? previousOwned;
    await syncDockerNetworks(
      ctx,
      await dockerBindings(ctx.store, topology.data.name, topology.data.document, previousOwned),
      await dockerBindings(ctx.store, topology.data.name, doc, ownedNow),
    );
    // 3. What the document no longer has.
    if (built.remove.steps.length) await ctx.runPlan(built.remove);
    await ctx.store.tx(async () => {
      for (const c of diff.changes) if (c.action === 'delete') await recordApplied(ctx, c, facts);
      await saveResource(ctx.store, topology, { data: topologyData(topology.data.name, doc, desired), state: 'ready' });
    });
  } catch (e) {
    await ctx.store.tx(async () => {
      const current = await readByKeyOrId(ctx.store, topologyId);
      if (!current) return;
      if (phase1Done) {
        // The replaced resources' old halves are gone from the hosts: they are no longer owned.
        const owned = { ...current.data.owned };
        for (const c of diff.changes)
          if (c.action === 'replace' && current.data.owned[c.slot] === previousOwned[c.slot]) {
            if (c.current) await ctx.store.deleteResource(c.current.id);
            delete owned[c.slot];
          }
        await saveResource(ctx.store, current, { data: { ...current.data, owned }, state: 'failed' });
      } else if (isNew && Object.keys(current.data.owned).length === 0) {
        await ctx.store.deleteResource(current.id);
      } else {
        await saveResource(ctx.store, current, {
          state: topology.state === 'pending' ? 'failed' : current.state === 'pending' ? 'ready' : current.state,
        });
      }
    });
    throw e;
  }
}

/** Values derived from other resources (a bridge's overlay MTU follows its tunnels): stored, no command needed. */
async function refreshDerived(store: Store, desired: DesiredTopology): Promise<void> {
  for (const b of desired.bridges) {
    const current = await readResource(store, 'bridge', b.id);
    if (current && current.data.overlayMtu !== b.data.overlayMtu)
      await saveResource(store, current, { data: { ...current.data, overlayMtu: b.data.overlayMtu } });
  }
}

/** OVS writes a tunnel port's row even when ovs-vswitchd cannot build it: check error/ofport, undo everything if broken. */
async function checkOvsTunnels(ctx: JobContext, changes: Change[], applied: Plan): Promise<void> {
  const ends = changes.flatMap((c) =>
    c.kind === 'tunnel' && c.desired && c.action !== 'delete' ? c.desired.data.endpoints.filter((e) => e.bridgeType === 'ovs') : [],
  );
  if (!ends.length) return;
  const byHost = new Map<string, typeof ends>();
  for (const e of ends) byHost.set(e.hostId, [...(byHost.get(e.hostId) ?? []), e]);
  const broken: string[] = [];
  await Promise.all(
    [...byHost].map(async ([hostId, list]) => {
      const cmds: Record<string, string[]> = {};
      list.forEach((e, i) => Object.entries(endCommands(e)).forEach(([k, argv]) => (cmds[`${i}|${k}`] = argv)));
      const r = await ctx.read(hostId, cmds);
      list.forEach((e, i) => {
        const o = parseEnd(e, byName(['iface', 'bridge'], [r[`${i}|iface`]!, r[`${i}|bridge`]!]));
        if (o.exists && (o.error || (o.ofport !== null && o.ofport < 0)))
          broken.push(`${e.hostName}/${e.portName}: ${o.error ?? `ofport ${o.ofport}`}`);
      });
    }),
  );
  if (broken.length) {
    await undo(ctx, applied.steps);
    throw new ProblemError('command-failed', `Open vSwitch could not create tunnel port(s) ${broken.join('; ')}`);
  }
}

/** The delete job: everything the topology owns, on every host, in one job (members, tunnels, then bridges). */
async function removeTopology(ctx: JobContext, topology: TypedResource<'topology'>): Promise<void> {
  const changes: Change[] = [];
  for (const [slot, id] of Object.entries(topology.data.owned)) {
    const rec = await ctx.store.getResource(id);
    if (!rec) continue;
    if (rec.type === 'bridge')
      changes.push({ kind: 'bridge', action: 'delete', slot, desired: null, current: parseRecord('bridge', rec), fields: [] });
    if (rec.type === 'tunnel')
      changes.push({ kind: 'tunnel', action: 'delete', slot, desired: null, current: parseRecord('tunnel', rec), fields: [] });
    if (rec.type === 'attachment')
      changes.push({ kind: 'attachment', action: 'delete', slot, desired: null, current: parseRecord('attachment', rec), fields: [] });
  }
  // Docker refuses to remove a network containers still use: that stops the delete before anything is gone.
  await removeDockerNetworks(
    ctx,
    await dockerBindings(ctx.store, topology.data.name, topology.data.document, topology.data.owned),
    topology.data.name,
  );
  const facts = await readFacts(ctx, changes);
  await ctx.runPlan(buildPlan(changes, facts, false).remove);
  await ctx.store.tx(async () => {
    for (const c of changes) if (c.current) await ctx.store.deleteResource(c.current.id);
    await ctx.store.deleteResource(topology.id);
  });
}

function observeOwned<T extends 'bridge' | 'tunnel', V, O extends Observation>(
  kind: ResourceKind<T, V, O>,
  hosts: HostReader,
  r: TypedResource<T>,
  store: Store,
): Promise<Observation> {
  return kind.observe ? kind.observe(hosts, r, store) : Promise.resolve({ observedAt: nowIso(), drift: [] });
}

export interface TopologyObservation extends Observation {
  resources: number;
}

async function observeTopology(hosts: HostReader, store: Store, topology: TypedResource<'topology'>): Promise<TopologyObservation> {
  const drift: DriftItem[] = [];
  await Promise.all(
    Object.entries(topology.data.owned).map(async ([slot, id]) => {
      const rec = await store.getResource(id);
      let items: DriftItem[];
      if (!rec) items = [{ field: 'record', desired: id, actual: null }];
      else if (rec.type === 'bridge') items = (await observeOwned(bridgeKind, hosts, parseRecord('bridge', rec), store)).drift;
      else if (rec.type === 'tunnel') items = (await observeOwned(tunnelKind, hosts, parseRecord('tunnel', rec), store)).drift;
      else if (rec.type === 'attachment') items = (await observeAttachment(hosts, parseRecord('attachment', rec))).drift;
      else items = [];
      drift.push(...items.map((d) => ({ ...d, field: `${slot}:${d.field}` })));
    }),
  );
  drift.push(...(await observeDockerMembers(hosts, store, topology.data.name)));
  return { observedAt: new Date().toISOString(), drift, resources: Object.keys(topology.data.owned).length };
}

export async function renderTopology(store: Store, t: TypedResource<'topology'>): Promise<TopologyView> {
  const names = await hostNamesOf(store, t.data.hosts);
  return {
    id: t.id,
    name: t.data.name,
    document: t.data.document,
    allocations: t.data.allocations,
    resources: t.data.owned,
    hosts: t.data.hosts.map((h) => names.get(h) ?? h),
    dockerMembers: await dockerMembers(store, t.data.name, t.data.document),
    labels: t.data.labels,
    state: t.state,
    jobId: t.jobId,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** The topology kind. Rendering needs host names, so the API renders through await renderTopology(store, …). */
export const topologyKind: ResourceKind<'topology', TopologyView, TopologyObservation> & {
  observeWith(hosts: HostReader, store: Store, t: TypedResource<'topology'>): Promise<TopologyObservation>;
} = {
  type: 'topology',
  noun: 'topology',
  lockMode: 'exclusive',
  describe: (t) => JSON.stringify(t.data.name),
  render: (t) => ({
    id: t.id,
    name: t.data.name,
    document: t.data.document,
    allocations: t.data.allocations,
    resources: t.data.owned,
    hosts: t.data.hosts,
    labels: t.data.labels,
    state: t.state,
    jobId: t.jobId,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  }),
  find: async (store, ref) => await readByKeyOrId(store, ref),
  hosts: (t) => t.data.hosts,
  dependents: () => Promise.resolve([]),
  remove: (ctx, t) => removeTopology(ctx, t),
  observeWith: observeTopology,
};
