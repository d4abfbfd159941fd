/**
 * Impairments and cable pulls on attachments and tunnels: request checks against the host's traffic-control facts,
 * the live-change jobs (PATCH, no re-attach), and the observation of what the host has (drift in the shared shape).
 */
import { mustRead, readResource, saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import type { AttachmentData } from '../model/attachments.js';
import {
  impairmentBackend,
  isImpaired,
  normalizeAttachmentImpairment,
  normalizeSpec,
  normalizeTunnelImpairment,
  type AttachmentImpairment,
  type ImpairmentSpec,
  type LinkState,
  type TrafficControlFacts,
  type TunnelImpairment,
} from '../model/impairments.js';
import { ProblemError, type FieldError } from '../model/problems.js';
import type { DriftItem } from '../model/resource.js';
import type { TunnelData } from '../model/tunnels.js';
import {
  attachmentImpairmentSteps,
  dropDevice,
  lossTable,
  nftScript,
  ovsPortLinkSteps,
  tunnelEndImpairmentSteps,
  type AttachmentEnds,
  type AttachmentImpairmentState,
} from '../ops/impairments.js';
import {
  attachmentImpairmentCommands,
  impairmentDrift,
  ovsPortShow,
  parseAttachmentImpairment,
  parseOvsPortLink,
  parseTunnelEndImpairment,
  tunnelEndImpairmentCommands,
  type ObservedImpairment,
} from '../ops/impairments-observe.js';
import { step, type Plan, type Step } from '../ops/plan.js';
import type { Store } from '../store/types.js';
import { resolveTarget } from './attachment-target.js';
import type { HostReader } from './kind.js';

// ---- request checks (before any command runs)

async function trafficControlOf(store: Store, hostId: string, hostName: string): Promise<TrafficControlFacts> {
  const tc = (await readResource(store, 'host', hostId))?.data.facts?.trafficControl;
  if (!tc)
    throw new ProblemError(
      'conflict',
      `the last probe of ${hostName} did not find out what traffic control its kernel offers (impairments need it); POST /hosts/${hostName}/probe`,
    );
  return tc;
}

/** 422 naming the missing kernel support, per field, for every direction that asks for something the host lacks. */
export async function checkImpairmentSupport(
  store: Store,
  hostId: string,
  hostName: string,
  directions: Record<string, ImpairmentSpec | undefined>,
  pointer: string,
): Promise<void> {
  if (!Object.values(directions).some((s) => isImpaired(s))) return;
  const tc = await trafficControlOf(store, hostId, hostName);
  const errors: FieldError[] = [];
  for (const [dir, spec] of Object.entries(directions)) {
    if (spec)
      errors.push(
        ...impairmentBackend(tc, spec, `${pointer}/${dir}`, hostName, dir === 'fromContainer' ? 'egress-local' : 'egress').errors,
      );
  }
  if (errors.length) throw ProblemError.validation(errors, errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '));
}

/** The same checks for a topology member: errors collected into the document's list (a host not probed for it is one). */
export async function impairmentErrors(
  store: Store,
  d: Pick<AttachmentData, 'hostId' | 'hostName'>,
  i: AttachmentImpairment | null | undefined,
  pointer: string,
  errors: FieldError[],
): Promise<void> {
  const n = normalizeAttachmentImpairment(i);
  if (!isImpaired(n.toContainer) && !isImpaired(n.fromContainer)) return;
  const tc = (await readResource(store, 'host', d.hostId))?.data.facts?.trafficControl;
  if (!tc) {
    errors.push({
      pointer,
      detail: `the last probe of ${d.hostName} did not find out what traffic control it offers; POST /hosts/${d.hostName}/probe`,
    });
    return;
  }
  for (const [dir, spec] of Object.entries(n))
    errors.push(
      ...impairmentBackend(tc, spec, `${pointer}/${dir}`, d.hostName, dir === 'fromContainer' ? 'egress-local' : 'egress').errors,
    );
}

export async function checkAttachmentImpairment(
  store: Store,
  d: Pick<AttachmentData, 'hostId' | 'hostName'>,
  i: AttachmentImpairment | null | undefined,
  pointer = '/impairment',
): Promise<void> {
  await checkImpairmentSupport(store, d.hostId, d.hostName, { ...normalizeAttachmentImpairment(i) }, pointer);
}

/** Tunnel ends on OVS bridges are ports inside Open vSwitch: there is no kernel device carrying one tunnel to shape. */
export async function checkTunnelImpairment(store: Store, d: TunnelData, i: TunnelImpairment | null | undefined): Promise<void> {
  const n = normalizeTunnelImpairment(i);
  const dirs = [
    ['aToB', n.aToB, d.endpoints[0]],
    ['bToA', n.bToA, d.endpoints[1]],
  ] as const;
  const errors: FieldError[] = [];
  for (const [dir, spec, end] of dirs) {
    if (isImpaired(spec) && end.bridgeType === 'ovs')
      errors.push({
        pointer: `/impairment/${dir}`,
        detail: `the ${end.hostName} end (${end.portName}) is a port of OVS bridge ${end.bridgeName}: Open vSwitch carries the tunnel inside its datapath with no kernel device per tunnel, so tc and nftables cannot impair it; impair the attachments on the bridge instead, or use a Linux bridge`,
      });
  }
  if (errors.length) throw ProblemError.validation(errors, errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '));
  for (const [dir, spec, end] of dirs) await checkImpairmentSupport(store, end.hostId, end.hostName, { [dir]: spec }, '/impairment');
}

// ---- attachments

export function attachmentState(d: Pick<AttachmentData, 'impairment' | 'link'>): AttachmentImpairmentState {
  const n = normalizeAttachmentImpairment(d.impairment);
  return { toContainer: n.toContainer, fromContainer: n.fromContainer, link: d.link ?? 'up' };
}

const NONE: AttachmentImpairmentState = { toContainer: {}, fromContainer: {}, link: 'up' };

/** What the host's last probe found of its traffic control (qdiscs, nftables): which impairment backend works. */
export async function trafficControlFacts(store: Store, hostId: string): Promise<TrafficControlFacts | null> {
  return (await readResource(store, 'host', hostId))?.data.facts?.trafficControl ?? null;
}

/** Steps that take a freshly made attachment (no impairment, cable in) to what `d` asks for. */
export function impairOnCreatePlan(facts: TrafficControlFacts | null, id: string, d: AttachmentData, ifname: string, nsPath: string): Plan {
  const ends: AttachmentEnds = { id, hostId: d.hostId, hostIfname: d.hostIfname, ifname, nsPath };
  return { steps: attachmentImpairmentSteps(ends, facts, NONE, attachmentState(d)) };
}

/** Steps that take an attachment from `previous` to `next` impairments and cable, in place. */
export function impairmentUpdatePlan(
  facts: TrafficControlFacts | null,
  id: string,
  previous: AttachmentData,
  next: AttachmentData,
  nsPath: string,
  dropExists?: boolean,
): Plan {
  const ends: AttachmentEnds = {
    id,
    hostId: next.hostId,
    hostIfname: next.hostIfname,
    ifname: next.ifname ?? previous.ifname ?? 'eth1',
    nsPath,
  };
  return {
    steps: attachmentImpairmentSteps(ends, facts, attachmentState(previous), attachmentState(next), false, dropExists),
  };
}

/** The loss table left in the target's namespace goes with the attachment (the veth's own qdiscs go with the veth). */
export function impairmentDetachSteps(id: string, d: AttachmentData): Step[] {
  const st = attachmentState(d);
  const nsPath = d.resolved?.netnsPath;
  if ((!st.toContainer.lossPercent && !st.fromContainer.lossPercent) || !nsPath) return [];
  // The namespace may be gone with its container (and these with it): exit 1 is fine.
  const table = lossTable(id);
  const inside = (argv: string[]) => ['nsenter', `--net=${nsPath}`, ...argv];
  return [
    step(d.hostId, `remove the loss table ${table} from the target`, inside(['nft', '-f', '-']), {
      stdin: nftScript(table, []),
      okExitCodes: [0, 1],
    }),
    ...(st.fromContainer.lossPercent
      ? [
          step(d.hostId, `remove the drop device ${dropDevice(id)} from the target`, inside(['ip', 'link', 'del', 'dev', dropDevice(id)]), {
            okExitCodes: [0, 1],
          }),
        ]
      : []),
  ];
}

/** A tunnel's loss tables on its Linux ends go with it. */
export function tunnelImpairmentDeleteSteps(id: string, d: TunnelData): Step[] {
  const n = normalizeTunnelImpairment(d.impairment);
  return d.endpoints.flatMap((e, i) =>
    e.bridgeType === 'linux' && (i === 0 ? n.aToB : n.bToA).lossPercent
      ? [
          step(e.hostId, `remove the loss table ${lossTable(id)}`, ['nft', '-f', '-'], {
            stdin: nftScript(lossTable(id), []),
            okExitCodes: [0, 1],
          }),
        ]
      : [],
  );
}

/** PATCH /attachments/{id}: impairments and the cable change live; a failure puts back what was there (host and record). */
/** The steps from one attachment's impairments and cable to another's, in the target's namespace now. */
export async function attachmentLiveSteps(
  ctx: JobContext,
  id: string,
  previous: AttachmentData,
  d: AttachmentData,
  nsPath: string,
): Promise<Step[]> {
  // The drop device (silent loss from the target) is gone with a restarted container's namespace: look, make it again.
  const drop = attachmentState(d).fromContainer.lossPercent
    ? await ctx.run(d.hostId, ['nsenter', `--net=${nsPath}`, 'ip', '-j', 'link', 'show', 'dev', dropDevice(id)])
    : null;
  return impairmentUpdatePlan(
    await trafficControlFacts(ctx.store, d.hostId),
    id,
    previous,
    d,
    nsPath,
    drop ? drop.exitCode === 0 : undefined,
  ).steps;
}

export async function updateAttachmentLive(ctx: JobContext, id: string, previous: AttachmentData): Promise<void> {
  const attachment = await mustRead(ctx.store, 'attachment', id);
  const d = attachment.data;
  try {
    // A restarted container has a new namespace: find it again rather than trusting the stored path.
    const target = await resolveTarget(ctx, d);
    await ctx.runPlan({ steps: await attachmentLiveSteps(ctx, id, previous, d, target.netnsPath) });
    await saveResource(ctx.store, attachment, { state: 'ready' });
  } catch (e) {
    await saveResource(ctx.store, attachment, { data: previous, state: 'ready' });
    throw e;
  }
}

// ---- tunnels

export interface TunnelLive {
  impairment: Required<TunnelImpairment>;
  link: LinkState;
}

export function tunnelState(d: { impairment?: TunnelImpairment | undefined; link?: LinkState | undefined }): TunnelLive {
  return { impairment: normalizeTunnelImpairment(d.impairment), link: d.link ?? 'up' };
}

/** Each Linux end: its direction's impairment on the tunnel device's egress, and the device's link. */
export async function tunnelImpairmentPlan(store: Store, id: string, d: TunnelData, prev: TunnelLive, next: TunnelLive): Promise<Plan> {
  const facts = await Promise.all(
    d.endpoints.map((e) => (e.bridgeType === 'linux' ? trafficControlFacts(store, e.hostId) : Promise.resolve(null))),
  );
  const steps = d.endpoints.flatMap((e, i) => {
    if (e.bridgeType !== 'linux') return ovsPortLinkSteps(e.hostId, e.bridgeName, e.portName, prev.link, next.link);
    const dir = i === 0 ? 'aToB' : 'bToA';
    return tunnelEndImpairmentSteps(
      { tunnelId: id, hostId: e.hostId, portName: e.portName },
      facts[i] ?? null,
      { spec: prev.impairment[dir], link: prev.link },
      { spec: next.impairment[dir], link: next.link },
    );
  });
  return { steps };
}

/** PATCH /tunnels/{id}: both ends' impairments and links, live; a failure restores both hosts and the record. */
export async function updateTunnelLive(ctx: JobContext, id: string, previous: TunnelData): Promise<void> {
  const tunnel = await mustRead(ctx.store, 'tunnel', id);
  const d = tunnel.data;
  try {
    await ctx.runPlan(await tunnelImpairmentPlan(ctx.store, id, d, tunnelState(previous), tunnelState(d)));
    await saveResource(ctx.store, tunnel, { state: 'ready' });
  } catch (e) {
    await saveResource(ctx.store, tunnel, { data: previous, state: 'ready' });
    throw e;
  }
}

// ---- observe

/**
 * What the host has for an attachment's impairments and cable, and drift from what the record says (fields
 * `impairment.toContainer`, `impairment.fromContainer`, `link`). Self-contained: a kind's observe appends its drift.
 */
export async function observeAttachmentImpairment(
  hosts: HostReader,
  id: string,
  d: AttachmentData,
): Promise<{ observed: ObservedImpairment; drift: DriftItem[] }> {
  const nsPath = d.resolved?.netnsPath ?? null;
  const ifname = d.ifname;
  const outs = await hosts.read(d.hostId, attachmentImpairmentCommands(id, d.hostIfname, ifname, nsPath));
  const observed = parseAttachmentImpairment(outs);
  const want = attachmentState(d);
  return {
    observed,
    drift: impairmentDrift([
      { field: 'impairment.toContainer', desired: want.toContainer, actual: observed.toContainer },
      { field: 'impairment.fromContainer', desired: want.fromContainer, actual: observed.fromContainer },
      { field: 'link', desired: want.link, actual: observed.link },
    ]),
  };
}

/** One tunnel end's impairment (its direction) and link, with drift; OVS ends have nothing of ours to observe. */
export async function observeTunnelEndImpairment(hosts: HostReader, id: string, d: TunnelData, i: 0 | 1): Promise<DriftItem[]> {
  const e = d.endpoints[i];
  const want = tunnelState(d);
  if (e.bridgeType !== 'linux') {
    const show = await hosts.read(e.hostId, { show: ovsPortShow(e.bridgeName) });
    return impairmentDrift([{ field: 'link', desired: want.link, actual: parseOvsPortLink(show.show, e.portName) }]);
  }
  const dir = i === 0 ? 'aToB' : 'bToA';
  const o = parseTunnelEndImpairment(await hosts.read(e.hostId, tunnelEndImpairmentCommands(id, e.portName)));
  return impairmentDrift([
    { field: `impairment.${dir}`, desired: normalizeSpec(want.impairment[dir]), actual: o.spec },
    { field: 'link', desired: want.link, actual: o.link },
  ]);
}
