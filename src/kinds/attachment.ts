/** Attachments: a veth pair from a bridge into a container, a named netns or a pid's namespace. */
import { mustRead, readResource, saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import type { LockMode } from '../jobs/locks.js';
import { normalizeAttachmentImpairment } from '../model/impairments.js';
import {
  AttachmentDataSchema,
  defaultHostIfname,
  renderAttachment,
  type AttachmentCreate,
  type AttachmentData,
  type AttachmentObservation,
  type AttachmentView,
} from '../model/attachments.js';
import { bridgeRef } from '../model/bridges.js';
import { idPattern } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { randomBytes } from 'node:crypto';
import {
  attachmentFactCommands,
  attachPlan,
  convergeAttachmentPlan,
  detachPlan,
  ruleDelStep,
  updateAttachmentPlan,
  linkNames,
  holdingNamespace,
  pickIfname,
  randomMac,
} from '../ops/attachments.js';
import { attachmentDrift, attachmentObserveCommands, parseAttachmentObservation } from '../ops/attachment-observe.js';
import { step, vsctl, type Step } from '../ops/plan.js';
import type { DriftItem } from '../model/resource.js';
import { rebaseReattached } from './attachment-rebase.js';
import { isUnknownOutcome, markUnknown } from './unknown.js';
import { ownerFromAlias, parseIpJson } from '../ops/links.js';
import type { Store } from '../store/types.js';
import { jobReader, type HostReader, type ResourceKind, type TypedResource } from './kind.js';
import {
  checkAttachmentImpairment,
  impairmentDetachSteps,
  impairmentUpdatePlan,
  impairOnCreatePlan,
  trafficControlFacts,
  attachmentLiveSteps,
  updateAttachmentLive,
  observeAttachmentImpairment,
} from './impairments.js';
import { interfaceNamesOnHost, requireBridge, requireHostAvailable } from './refs.js';
import {
  addressingData,
  announce,
  checkTargetNamespace,
  currentTarget,
  repairTarget,
  resolveTarget,
  targetIfRunning,
} from './attachment-target.js';
import {
  createNicAttachment,
  observeNicAttachment,
  removeNicAttachment,
  repairNicAttachment,
  resolveNicAttachment,
} from './attachment-nic.js';
import {
  awaitLease,
  checkDhcpClient,
  dhcpDrift,
  dhcpNeedsRestart,
  dhcpObserveCommands,
  dhcpStartSteps,
  dhcpStopSteps,
  dhcpView,
  expectedWithDhcp,
  leaseOrUndo,
  parseDhcpObservation,
  prepareDhcp,
  runDhcpPlan,
  staticAddressing,
  withLease,
} from './attachment-dhcp.js';

// ---- request → data

/**
 * Attachments share their host with each other (each has its own interfaces), except a NIC type on a VLAN: the VLAN
 * sub-interface is the host's, made by one attachment and removed with the last, so those jobs hold the host alone.
 */
export function attachmentLockMode(d: AttachmentData): LockMode {
  return d.type !== 'veth' && d.vlan !== null ? 'exclusive' : 'shared';
}

/**
 * Every check that needs no host, before any command runs: the bridge or parent NIC's host, the VLAN, what the host's
 * kernel can make (its last probe), the DHCP client, the host end's name.
 */
export async function resolveAttachment(store: Store, body: AttachmentCreate, id: string): Promise<{ data: AttachmentData; key: string }> {
  const type = body.type ?? (body.parent !== undefined ? 'macvlan' : 'veth');
  const resolved = type === 'veth' ? await resolveVeth(store, body, id) : await resolveNicAttachment(store, body, id, type);
  // DHCP needs a client on the host: the probe says which it has (422 before any command when none fits).
  await checkDhcpClient(store, resolved.data, body.dhcpClient !== undefined);
  return resolved;
}

/** A veth pair from a bridge: the bridge, the VLAN tag, the host's facts, the host end's name. */
async function resolveVeth(store: Store, body: AttachmentCreate, id: string): Promise<{ data: AttachmentData; key: string }> {
  const bridge = await requireBridge(store, body.bridge!, '/bridge');
  const b = bridge.data;
  if (bridge.state !== 'ready') throw new ProblemError('conflict', `bridge ${b.hostName}/${b.name} is ${bridge.state}`);
  if (b.topology)
    throw new ProblemError(
      'conflict',
      `bridge ${b.hostName}/${b.name} belongs to topology ${JSON.stringify(b.topology)}: add a member to the topology instead`,
      { errors: [{ pointer: '/bridge', detail: 'owned by a topology' }] },
    );
  if (body.vlan !== undefined && b.type !== 'ovs')
    throw ProblemError.validation([{ pointer: '/vlan', detail: 'VLAN tags need an OVS bridge; this one is a Linux bridge' }]);
  const host = await readResource(store, 'host', b.hostId);
  if (host) requireHostAvailable(host);
  const facts = host?.data.facts;
  if (b.datapathType === 'netdev' && facts && facts.ethtool === false) {
    throw new ProblemError(
      'conflict',
      `${b.hostName} has no ethtool, which the netdev datapath needs to switch off tx checksum offload (install ethtool, then POST /hosts/${b.hostName}/probe)`,
    );
  }
  if ('container' in body.target && !facts?.docker) {
    throw new ProblemError(
      'conflict',
      `${b.hostName} has no reachable Docker engine (last probe); attach a netns or pid, or re-probe the host`,
    );
  }
  const hostIfname = body.hostIfname ?? defaultHostIfname(id);
  const owner = (await interfaceNamesOnHost(store, b.hostId)).get(hostIfname);
  if (owner)
    throw new ProblemError('conflict', `${hostIfname} is already used on ${b.hostName} by ${owner}`, {
      errors: [{ pointer: '/hostIfname', detail: 'in use' }],
    });
  const data: AttachmentData = {
    ...bridgeRef(bridge),
    type: 'veth',
    parent: null,
    mode: null,
    target: body.target,
    resolved: null,
    ifname: body.ifname ?? null,
    hostIfname,
    ...addressingData(body),
    mtu: body.mtu ?? b.overlayMtu ?? b.mtu ?? null,
    vlan: body.vlan ?? null,
    txChecksumOffloadOff: false,
    labels: body.labels,
    container: 'container' in body.target ? body.target.container : null,
    ...(body.impairment ? { impairment: normalizeAttachmentImpairment(body.impairment) } : {}),
    ...(body.link ? { link: body.link } : {}),
    assignedMac: null,
  };
  await checkAttachmentImpairment(store, data, body.impairment);
  return { data, key: `${b.hostId}/${hostIfname}` };
}

// ---- job work

export async function createAttachment(ctx: JobContext, id: string): Promise<void> {
  const attachment = await mustRead(ctx.store, 'attachment', id);
  if (attachment.data.type !== 'veth') return createNicAttachment(ctx, attachment);
  // DHCP: the client that will run, recorded (repair and delete use the same).
  const d = await prepareDhcp(ctx.store, attachment.data);
  let planStarted = false;
  try {
    const target = await resolveTarget(ctx, d);
    const { nsInodes, innerLinks, hostLink } = await ctx.read(d.hostId, attachmentFactCommands(target.netnsPath, d.hostIfname));
    const inode = checkTargetNamespace(d, target, nsInodes);
    if (innerLinks.exitCode !== 0) {
      throw new ProblemError('not-found', `the target's network namespace ${target.netnsPath} does not exist on ${d.hostName}`);
    }
    const existing = linkNames(innerLinks.stdout);
    if (d.ifname && existing.includes(d.ifname)) {
      throw new ProblemError('conflict', `${d.ifname} already exists in the target on ${d.hostName}`, {
        errors: [{ pointer: '/ifname', detail: 'already present in the target' }],
      });
    }
    if (hostLink.exitCode === 0) {
      const owner = ownerFromAlias(parseIpJson(hostLink.stdout)[0]?.alias ?? null);
      throw new ProblemError('conflict', `${d.hostIfname} already exists on ${d.hostName}${owner ? ` (made for ${owner})` : ''}`, {
        errors: [{ pointer: '/hostIfname', detail: 'already present on the host' }],
      });
    }
    const ifname = d.ifname ?? pickIfname(existing);
    // A MAC of our choosing when none was asked for: a re-attach after a container restart keeps it.
    const assignedMac = d.mac ? null : (d.assignedMac ?? randomMac((n) => randomBytes(n)));
    const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
    // The pending record already says which names and MAC the host may get: an unknown outcome can be resolved.
    await saveResource(ctx.store, attachment, { data: { ...d, ifname, resolved, assignedMac } });
    planStarted = true;
    // With DHCP the batch ends by starting the client and waiting for its lease (undone whole when none comes).
    const facts = await trafficControlFacts(ctx.store, d.hostId);
    await runDhcpPlan(ctx, {
      steps: holdingNamespace(d.hostId, id, target.netnsPath, inode, (nsPath) => [
        ...attachPlan({ id, d: { ...d, mac: d.mac ?? assignedMac }, ifname, nsPath, nsRef: target.nsRef }).steps,
        ...impairOnCreatePlan(facts, id, d, ifname, nsPath).steps,
        ...dhcpStartSteps(d, id, ifname, nsPath),
      ]),
    });
    const lease = await leaseOrUndo(ctx, d, id, () =>
      ctx.runPlan({ steps: [...dhcpStopSteps(d, id), ...impairmentDetachSteps(id, { ...d, ifname }), ...detachPlan(d, true).steps] }),
    );
    const data = withLease({ ...d, ifname, resolved, assignedMac, txChecksumOffloadOff: d.datapathType === 'netdev' }, lease);
    await saveResource(ctx.store, attachment, { data, state: 'ready' });
    announce(ctx, data, ifname, target.netnsPath);
  } catch (e) {
    if (planStarted && isUnknownOutcome(e)) {
      await markUnknown(ctx, attachment, e);
      throw e;
    }
    await ctx.store.deleteResource(id);
    throw e;
  }
}

// ---- observe and repair

export async function observeAttachment(hosts: HostReader, attachment: TypedResource<'attachment'>): Promise<AttachmentObservation> {
  const d = attachment.data;
  const target = await currentTarget(hosts, d);
  const out = await hosts.read(d.hostId, {
    ...attachmentObserveCommands(d, d.ifname, target.netnsPath),
    ...dhcpObserveCommands(d, attachment.id, target.netnsPath),
  });
  const o = parseAttachmentObservation(d, out);
  // DHCP: the address the client holds now is expected, and a client that is gone is drift.
  const dh = parseDhcpObservation(d, out);
  const drift: DriftItem[] =
    target.running === false
      ? [{ field: 'target', desired: 'running', actual: 'stopped' }]
      : [...attachmentDrift(attachment.id, expectedWithDhcp(d, dh), o, d.mac ?? d.assignedMac), ...dhcpDrift(d, dh)];
  return { observedAt: new Date().toISOString(), target, ...o, ...(dh ? { dhcp: dhcpView(d, dh) } : {}), drift };
}

/**
 * Repair: a stopped container leaves the attachment `target-stopped` (nothing to do until it starts). Otherwise the
 * pair is made again when an end is missing or not paired (same names, addresses and MAC), or what differs is reset
 * in place. Objects another owner marked are never touched (409).
 */
export async function repairAttachment(ctx: JobContext, id: string): Promise<void> {
  const attachment = await mustRead(ctx.store, 'attachment', id);
  if (attachment.data.type !== 'veth') return repairNicAttachment(ctx, attachment);
  const d = await prepareDhcp(ctx.store, attachment.data);
  const target = await repairTarget(ctx, attachment, d);
  if (!target) return;
  const facts = await ctx.read(d.hostId, {
    ...attachmentFactCommands(target.netnsPath, d.hostIfname),
    ...attachmentObserveCommands(d, d.ifname, target.netnsPath),
    ...dhcpObserveCommands(d, id, target.netnsPath),
  });
  const inode = checkTargetNamespace(d, target, facts.nsInodes);
  const o = parseAttachmentObservation(d, facts);
  const dh = parseDhcpObservation(d, facts);
  const ifname = d.ifname ?? pickIfname(linkNames(facts.innerLinks.stdout));
  const mac = d.mac ?? d.assignedMac;
  if (o.hostEnd.exists && o.hostEnd.owner !== id) {
    throw new ProblemError(
      'conflict',
      `${d.hostIfname} on ${d.hostName} is not this attachment's (${o.hostEnd.owner ? `marked ${o.hostEnd.owner}` : 'unmarked'}): left alone`,
    );
  }
  if (o.inside.exists && !o.inside.paired && d.ifname) {
    throw new ProblemError('conflict', `${d.ifname} in the target on ${d.hostName} is not this attachment's veth end: left alone`);
  }
  const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
  const drift = o.inside.exists
    ? [...attachmentDrift(id, { ...expectedWithDhcp(d, dh), ifname }, o, mac), ...dhcpDrift(d, dh)]
    : [{ field: 'inside', desired: ifname, actual: null }];
  // DHCP: the client owns the address; a client gone, in an old namespace, or its address missing is started again.
  const restartDhcp = dhcpNeedsRestart(d, dh, drift);
  // Impairments and the cable (issue 17) of a whole pair, as the host has them now.
  const whole = o.hostEnd.exists && o.inside.exists;
  const now = { ...d, ifname, resolved: { ...(d.resolved ?? resolved), netnsPath: target.netnsPath } };
  const impairment = whole ? await observeAttachmentImpairment(jobReader(ctx), id, now) : null;
  if (!drift.length && !impairment?.drift.length) {
    ctx.log(d.hostName, 'info', `attachment ${id}: no drift`);
  } else if (!o.hostEnd.exists || !o.inside.exists) {
    ctx.log(d.hostName, 'info', `attachment ${id}: re-attaching (${drift.map((x) => x.field).join(', ')})`);
    const stale: Step[] = [];
    // The host end of a pair whose inner end went with an old namespace: ours (checked above), so it goes first.
    if (o.hostEnd.exists)
      stale.push(step(d.hostId, `delete the stale host end ${d.hostIfname}`, ['ip', 'link', 'del', 'dev', d.hostIfname]));
    // A port left without its device: removed, so OVS opens the new device afresh.
    if (d.bridgeType === 'ovs' && o.hostEnd.bridge)
      stale.push(step(d.hostId, `remove the stale port ${d.hostIfname}`, vsctl('--if-exists', 'del-port', o.hostEnd.bridge, d.hostIfname)));
    const facts = await trafficControlFacts(ctx.store, d.hostId);
    const steps = holdingNamespace(d.hostId, id, target.netnsPath, inode, (nsPath) => [
      ...stale,
      ...attachPlan({ id, d: { ...staticAddressing(d), mac }, ifname, nsPath, nsRef: target.nsRef }).steps,
      // Impairments and a pulled cable went with the old pair: made again as at create (issue 17).
      ...impairOnCreatePlan(facts, id, d, ifname, nsPath).steps,
      ...dhcpStartSteps(d, id, ifname, nsPath),
    ]);
    await runDhcpPlan(ctx, { steps });
    announce(ctx, d, ifname, target.netnsPath);
  } else {
    const fields = [...drift, ...(impairment?.drift ?? [])].map((x) => x.field);
    ctx.log(d.hostName, 'info', `attachment ${id}: resetting ${fields.join(', ')}`);
    // What the host has now, as the record would say it: the start of the in-place impairment plan.
    const observed = impairment && {
      ...now,
      impairment: { toContainer: impairment.observed.toContainer, fromContainer: impairment.observed.fromContainer },
      link: impairment.observed.link ?? 'up',
    };
    // A DHCP client being started again applies the address itself: the addresses are left as they are until then.
    const want = restartDhcp ? { ...d, addresses: o.inside.addresses } : expectedWithDhcp(d, dh);
    const facts = await trafficControlFacts(ctx.store, d.hostId);
    await runDhcpPlan(ctx, {
      steps: holdingNamespace(d.hostId, id, target.netnsPath, inode, (nsPath) => [
        ...convergeAttachmentPlan(id, { ...want, ifname, mac }, o, nsPath).steps,
        ...(observed && impairment.drift.length ? impairmentUpdatePlan(facts, id, observed, now, nsPath).steps : []),
        ...(restartDhcp ? dhcpStartSteps(d, id, ifname, nsPath) : []),
      ]),
    });
  }
  const repaired = { ...d, ifname, resolved, txChecksumOffloadOff: d.datapathType === 'netdev' };
  // The lease as the client has it now: a fresh one after a restart, else the current file (a renewal may move it).
  const lease = !d.dhcp
    ? null
    : restartDhcp || !o.hostEnd.exists || !o.inside.exists
      ? await awaitLease(ctx, d, id)
      : (dh?.lease ?? d.lease);
  await saveResource(
    ctx.store,
    attachment,
    { data: withLease(repaired, lease), state: 'ready' },
    { rebase: (current) => rebaseReattached(current, { ifname, resolved, txChecksumOffloadOff: repaired.txChecksumOffloadOff }, lease) },
  );
}

/**
 * PATCH: routes, rules and the gateway converge inside the target (ops/attachments.ts updateAttachmentPlan), and
 * impairments and the cable live (kinds/impairments.ts), in one plan; a failure undoes it and keeps the previous record.
 */
export async function updateAttachment(ctx: JobContext, id: string, previous: AttachmentData): Promise<void> {
  const attachment = await mustRead(ctx.store, 'attachment', id);
  const d = attachment.data;
  const routing = JSON.stringify([previous.gateway, previous.routes, previous.rules]) !== JSON.stringify([d.gateway, d.routes, d.rules]);
  if (!routing) return updateAttachmentLive(ctx, id, previous);
  const live = JSON.stringify([previous.impairment, previous.link]) !== JSON.stringify([d.impairment, d.link]);
  try {
    const target = await resolveTarget(ctx, d);
    const steps = updateAttachmentPlan(previous, d, target.netnsPath).steps;
    if (live) steps.push(...(await attachmentLiveSteps(ctx, id, previous, d, target.netnsPath)));
    await ctx.runPlan({ steps });
    await saveResource(ctx.store, attachment, { state: 'ready' });
  } catch (e) {
    await saveResource(ctx.store, attachment, { data: previous, state: 'ready' });
    throw e;
  }
}

async function removeAttachment(ctx: JobContext, attachment: TypedResource<'attachment'>): Promise<void> {
  const d = attachment.data;
  if (d.type !== 'veth') return removeNicAttachment(ctx, attachment);
  const link = await ctx.run(d.hostId, ['ip', '-j', 'link', 'show', 'dev', d.hostIfname]);
  const detach = detachPlan(d, link.exitCode === 0);
  // Rules live in the target's namespace, not on the veth: removed while it is there (a named netns keeps them).
  const nsPath = d.rules.length ? (await targetIfRunning(ctx, d)).netnsPath : null;
  const rules = nsPath ? d.rules.map((r) => ruleDelStep(d.hostId, r, nsPath)) : [];
  // The DHCP client first: its release goes out while the interface is still there.
  await ctx.runPlan({
    steps: [...dhcpStopSteps(d, attachment.id), ...rules, ...impairmentDetachSteps(attachment.id, d), ...detach.steps],
  });
  await ctx.store.deleteResource(attachment.id);
}

export const attachmentKind: ResourceKind<'attachment', AttachmentView, AttachmentObservation> = {
  type: 'attachment',
  noun: 'attachment',
  lockMode: 'shared',
  lockModeFor: (a) => attachmentLockMode(a.data),
  describe: (attachment) => attachment.id,
  render: renderAttachment,
  find: async (store, ref) => (idPattern('attachment').test(ref) ? await readResource(store, 'attachment', ref) : null),
  hosts: (attachment) => [attachment.data.hostId],
  dependents: () => Promise.resolve([]),
  resume: {
    create: { run: (ctx, id) => createAttachment(ctx, id), successStatus: 201 },
    update: {
      run: (ctx, id, params) => updateAttachmentLive(ctx, id, AttachmentDataSchema.parse(params?.previous)),
      successStatus: 200,
      params: { previous: (v) => AttachmentDataSchema.parse(v) },
    },
    delete: true,
  },
  // Both veth ends, the target and its addresses (observeAttachment), plus the impairments and the cable as the host's
  // qdiscs and rules say (observeAttachmentImpairment): one drift list.
  async observe(hosts, attachment) {
    if (attachment.data.type !== 'veth') return observeNicAttachment(hosts, attachment);
    const ends = await observeAttachment(hosts, attachment);
    // A stopped target or a broken pair: the ends' drift says it all (impairments are made again with the pair).
    if (ends.target.running === false || !ends.hostEnd.exists || !ends.inside.exists) return ends;
    // Read in the namespace the target has now (a restarted container's, not the recorded one).
    const d = attachment.data;
    const now = ends.target.netnsPath && d.resolved ? { ...d, resolved: { ...d.resolved, netnsPath: ends.target.netnsPath } } : d;
    const { observed, drift } = await observeAttachmentImpairment(hosts, attachment.id, now);
    return {
      ...ends,
      impairment: { toContainer: observed.toContainer, fromContainer: observed.fromContainer },
      link: observed.link,
      drift: [...ends.drift, ...drift],
    };
  },
  remove: (ctx, attachment) => removeAttachment(ctx, attachment),
};
