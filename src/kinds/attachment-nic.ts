/**
 * Attachments on a host NIC (pipework's physical-interface modes): a macvlan or ipvlan sub-interface of the NIC made
 * directly inside the target, or the NIC itself moved in (`phys`, pipework's --direct-phys) and moved back on delete.
 * `vlan` puts either on the NIC's 802.1Q sub-interface `<nic>.<vlan>` (made when missing, removed with the last user).
 */
import { rebaseReattached } from './attachment-rebase.js';
import type { AttachmentCreate, AttachmentData, AttachmentType, ParentData } from '../model/attachments.js';
import { ProblemError } from '../model/problems.js';
import type { Store } from '../store/types.js';
import { readAll, readResource, saveResource } from '../jobs/records.js';
import { requireHost, requireHostAvailable } from './refs.js';
import { addressingData } from './attachment-target.js';
import type { JobContext } from '../jobs/runner.js';
import { type HostReader, type TypedResource } from './kind.js';
import type { AttachmentObservation } from '../model/attachments.js';
import type { DriftItem } from '../model/resource.js';
import { insideDrift, insideObserveCommands, parseAttachmentObservation, type ObservedAttachmentEnds } from '../ops/attachment-observe.js';
import type { Step } from '../ops/plan.js';
import { announce, checkTargetNamespace, currentTarget, repairTarget, resolveTarget, targetIfRunning } from './attachment-target.js';
import {
  awaitLease,
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
import { convergeInsideSteps, inNs, holdingNamespace, pickIfname, randomMac } from '../ops/attachments.js';
import { randomBytes } from 'node:crypto';
import {
  findParent,
  innerLinkNames,
  nicAttachPlan,
  nicDetachPlan,
  nicFactCommands,
  HOST_LINKS,
  parseHostLinks,
  vlanDeviceName,
  type HostLink,
} from '../ops/nic-attachments.js';
import { ownerFromAlias } from '../ops/links.js';
import { isUnknownOutcome, markUnknown } from './unknown.js';

const KERNEL_NEEDS: Record<Exclude<AttachmentType, 'veth' | 'phys'>, string> = {
  macvlan: 'macvlan (CONFIG_MACVLAN)',
  ipvlan: 'ipvlan (CONFIG_IPVLAN)',
};

/** Every check that needs no host: the host, what its kernel can make (last probe), the NIC not already handed over. */
export async function resolveNicAttachment(
  store: Store,
  body: AttachmentCreate,
  id: string,
  type: Exclude<AttachmentType, 'veth'>,
): Promise<{ data: AttachmentData; key: string }> {
  const host = await requireHost(store, body.host!, '/host');
  requireHostAvailable(host);
  const facts = host.data.facts;
  const kernel = facts?.kernel ? ` ${facts.kernel}` : '';
  if (type !== 'phys' && facts?.linkTypes && !facts.linkTypes[type]) {
    throw ProblemError.validation([
      {
        pointer: '/type',
        detail: `${host.data.name}'s kernel${kernel} cannot make ${type} devices: it lacks ${KERNEL_NEEDS[type]} (the host's probe tried one)`,
      },
    ]);
  }
  if (body.vlan !== undefined && facts?.linkTypes && !facts.linkTypes.vlan) {
    throw ProblemError.validation([
      {
        pointer: '/vlan',
        detail: `${host.data.name}'s kernel${kernel} cannot make 802.1Q VLAN sub-interfaces: it lacks 8021q (CONFIG_VLAN_8021Q; the host's probe tried one)`,
      },
    ]);
  }
  if ('container' in body.target && !facts?.docker) {
    throw new ProblemError(
      'conflict',
      `${host.data.name} has no reachable Docker engine (last probe); attach a netns or pid, or re-probe the host`,
    );
  }
  const parentRef = body.parent!;
  if (type === 'phys') {
    // One target at a time can have a NIC: another phys attachment of the same NIC is a conflict before any command.
    // (With `vlan` the device moved is the NIC's VLAN sub-interface: another device.)
    const holder = (await readAll(store, 'attachment', { hostId: host.id })).find(
      (a) =>
        a.data.type === 'phys' &&
        a.data.vlan === (body.vlan ?? null) &&
        (a.data.parent?.ref === parentRef || a.data.parent?.name === parentRef),
    );
    if (holder)
      throw new ProblemError('conflict', `${parentRef} on ${host.data.name} is already moved into a target by ${holder.id}`, {
        errors: [{ pointer: '/parent', detail: `held by ${holder.id}` }],
      });
  }
  const data: AttachmentData = {
    type,
    // No bridge: these fields stay empty for the NIC types (every use of them is behind `type === 'veth'`).
    bridgeId: '',
    bridgeName: '',
    bridgeType: 'linux',
    datapathType: null,
    hostId: host.id,
    hostName: host.data.name,
    parent: { ref: parentRef, name: null, mac: null, lower: null, vlanMade: false, mtu: null },
    mode: type === 'macvlan' ? (body.mode ?? 'bridge') : type === 'ipvlan' ? (body.mode ?? 'l2') : null,
    target: body.target,
    resolved: null,
    ifname: body.ifname ?? null,
    // No host end: a phys NIC's own name is recorded in `parent`.
    hostIfname: '',
    ...addressingData(body),
    mtu: body.mtu ?? null,
    vlan: body.vlan ?? null,
    txChecksumOffloadOff: false,
    labels: body.labels,
    container: 'container' in body.target ? body.target.container : null,
    assignedMac: null,
  };
  // phys: one record per NIC (the store's key is unique); the sub-interfaces: one per attachment.
  const moved = body.vlan !== undefined ? `${parentRef}@${body.vlan}` : parentRef;
  return { data, key: type === 'phys' ? `${host.id}/phys:${moved}` : `${host.id}/${type}:${id}` };
}

type NicAttachment = TypedResource<'attachment'> & { data: AttachmentData & { parent: ParentData } };

function nicData(attachment: TypedResource<'attachment'>): NicAttachment {
  if (!attachment.data.parent) throw new Error(`attachment ${attachment.id} (${attachment.data.type}) has no parent NIC`);
  return attachment as NicAttachment;
}

/** What the host's record says about its NICs: the bridges netplumb made, the addresses the host is reached by. */
async function hostFacts(store: Store, d: AttachmentData): Promise<{ bridgeNames: Set<string>; reachedBy: string[] }> {
  const host = await readResource(store, 'host', d.hostId);
  const executor = host?.data.executor;
  return {
    bridgeNames: new Set((await readAll(store, 'bridge', { hostId: d.hostId })).map((b) => b.data.name)),
    reachedBy: [executor?.kind === 'ssh' ? executor.address : null, host?.data.tunnelIp ?? null].filter((a): a is string => !!a),
  };
}

/** The NIC on the host now (by name or MAC), the device the sub-interface goes on, and whether the plan makes it. */
function findLower(
  d: AttachmentData & { parent: ParentData },
  links: HostLink[],
  host: { bridgeNames: Set<string>; reachedBy: string[] },
): { nic: HostLink; lower: HostLink | null; lowerName: string } {
  const { bridgeNames, reachedBy } = host;
  // A phys NIC that a dead namespace gave back to the host may have come back under another name: found by its MAC.
  const byMac = [d.parent.mac, d.type === 'phys' ? d.mac : null].filter((m): m is string => !!m);
  const nic = findParent(links, d.parent.ref) ?? byMac.map((m) => findParent(links, `mac:${m}`)).find((l) => l) ?? null;
  if (!nic) {
    throw new ProblemError('not-found', `${d.parent.ref} is not an interface on ${d.hostName}`, {
      errors: [{ pointer: '/parent', detail: 'no such interface on the host' }],
    });
  }
  if (nic.kind === 'bridge' || nic.kind === 'openvswitch' || bridgeNames.has(nic.name)) {
    throw new ProblemError(
      'conflict',
      `${nic.name} on ${d.hostName} is a bridge: attach to it with a veth (\`bridge\`), not as a parent NIC`,
      {
        errors: [{ pointer: '/parent', detail: 'a bridge' }],
      },
    );
  }
  const own = reachedBy.filter((a) => nic.addresses.includes(a));
  if (d.type === 'phys' && own.length) {
    throw new ProblemError(
      'conflict',
      `${nic.name} carries ${d.hostName}'s own address (${own.join(', ')}): moved into a container it would cut the host off`,
      { errors: [{ pointer: '/parent', detail: "the host's management or tunnel NIC" }] },
    );
  }
  if (ownerFromAlias(nic.alias)) {
    throw new ProblemError('conflict', `${nic.name} on ${d.hostName} is netplumb's own (${nic.alias}): give a NIC of the host`, {
      errors: [{ pointer: '/parent', detail: 'made by netplumb' }],
    });
  }
  if (d.vlan === null) return { nic, lower: nic, lowerName: nic.name };
  const lowerName = vlanDeviceName(nic.name, d.vlan);
  if (!lowerName) {
    throw new ProblemError('conflict', `${nic.name}.${d.vlan} is longer than the kernel's 15 bytes for an interface name`, {
      errors: [{ pointer: '/vlan', detail: 'the VLAN sub-interface name would not fit' }],
    });
  }
  const lower = links.find((l) => l.name === lowerName) ?? null;
  if (lower && (lower.kind !== 'vlan' || lower.vlanId !== d.vlan || lower.link !== nic.name)) {
    throw new ProblemError('conflict', `${lowerName} on ${d.hostName} exists but is not the VLAN ${d.vlan} sub-interface of ${nic.name}`, {
      errors: [{ pointer: '/vlan', detail: `${lowerName} is something else` }],
    });
  }
  return { nic, lower, lowerName };
}

/**
 * macvlan / ipvlan / phys: find the NIC (name or MAC) and its VLAN sub-interface, pick the name inside, then one batch
 * with the target's namespace held (ops/nic-attachments.ts). Any failure undoes every step; an unknown outcome (the
 * connection lost mid-batch) leaves the record `unknown` for repair.
 */
export async function createNicAttachment(ctx: JobContext, record: TypedResource<'attachment'>): Promise<void> {
  const attachment = nicData(record);
  const id = attachment.id;
  // DHCP: the client that will run, recorded (repair and delete use the same).
  const d = { ...(await prepareDhcp(ctx.store, attachment.data)), parent: attachment.data.parent };
  let planStarted = false;
  try {
    const target = await resolveTarget(ctx, d);
    const facts = await ctx.read(d.hostId, nicFactCommands(target.netnsPath));
    const inode = checkTargetNamespace(d, target, facts.nsInodes);
    if (facts.innerLinks.exitCode !== 0) {
      throw new ProblemError('not-found', `the target's network namespace ${target.netnsPath} does not exist on ${d.hostName}`);
    }
    const { nic, lower, lowerName } = findLower(d, parseHostLinks(facts.hostLinks.stdout), await hostFacts(ctx.store, d));
    const existing = innerLinkNames(facts.innerLinks.stdout);
    if (d.ifname && existing.includes(d.ifname)) {
      throw new ProblemError('conflict', `${d.ifname} already exists in the target on ${d.hostName}`, {
        errors: [{ pointer: '/ifname', detail: 'already present in the target' }],
      });
    }
    const ifname = d.ifname ?? pickIfname(existing);
    const parent: ParentData = {
      ...d.parent,
      name: nic.name,
      mac: nic.mac,
      lower: lowerName,
      vlanMade: lower === null,
      mtu: (lower ?? nic).mtu,
    };
    const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
    // A macvlan gets a MAC of our choosing when none was asked for: made again (container restart, repair) it keeps it.
    // Not in passthru mode: that macvlan has the NIC's own MAC (setting another would change the NIC's).
    const assignedMac =
      d.type === 'macvlan' && d.mode !== 'passthru' && !d.mac ? (d.assignedMac ?? randomMac((n) => randomBytes(n))) : null;
    // The pending record already names the NIC, the device and the name inside: an unknown outcome can be resolved.
    await saveResource(ctx.store, attachment, { data: { ...d, ifname, resolved, parent, assignedMac } });
    planStarted = true;
    // With DHCP the batch ends by starting the client and waiting for its lease (undone whole when none comes).
    await runDhcpPlan(ctx, {
      steps: heldAttachSteps(id, { ...d, parent, mac: d.mac ?? assignedMac }, target.netnsPath, inode, { nic, lower, lowerName }, ifname),
    });
    const made = { ...attachment, data: { ...d, ifname, resolved, parent, assignedMac } };
    const lease = await leaseOrUndo(ctx, d, id, () => removeNicAttachment(ctx, made));
    const data = withLease(made.data, lease);
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

/** The attach plan with the target's namespace held for the whole batch (the same at create and at repair), DHCP last. */
function heldAttachSteps(
  id: string,
  d: AttachmentData & { parent: ParentData },
  netnsPath: string,
  inode: string,
  found: ReturnType<typeof findLower>,
  ifname: string,
): Step[] {
  const { nic, lower, lowerName } = found;
  // The device that moves (phys) gives back its own MAC and MTU on undo and delete.
  const moved = lower ?? nic;
  return holdingNamespace(d.hostId, id, netnsPath, inode, (nsPath) => [
    ...nicAttachPlan({
      id,
      d: staticAddressing(d),
      parentName: nic.name,
      lower: lowerName,
      makeVlan: lower === null,
      ifname,
      nsPath,
      original: { mac: moved.mac, mtu: moved.mtu },
    }).steps,
    // DHCP last, once the interface is up: the client enters the namespace once, at start.
    ...dhcpStartSteps(d, id, ifname, nsPath),
  ]);
}

/** Whether another attachment on the host still has the VLAN sub-interface this one made. */
async function lowerStillUsed(store: Store, a: NicAttachment): Promise<boolean> {
  const lower = a.data.parent.lower;
  return (await readAll(store, 'attachment', { hostId: a.data.hostId })).some((x) => x.id !== a.id && x.data.parent?.lower === lower);
}

/**
 * Delete: the interface inside goes (a phys NIC back to the host under its own name), then a VLAN sub-interface this
 * attachment made, when no other attachment uses it. A target that is gone took its sub-interface with it.
 */
export async function removeNicAttachment(ctx: JobContext, record: TypedResource<'attachment'>): Promise<void> {
  const attachment = nicData(record);
  const d = attachment.data;
  const target = await targetIfRunning(ctx, d);
  const commands: Record<string, readonly string[]> = { hostLinks: HOST_LINKS };
  if (target.netnsPath && d.ifname) commands.inside = inNs(target.netnsPath, ['ip', '-j', 'link', 'show', 'dev', d.ifname]);
  const facts = await ctx.read(d.hostId, commands);
  const links = parseHostLinks(facts.hostLinks!.stdout);
  const lowerNow = links.find((l) => l.name === d.parent.lower);
  const macs = [d.mac, d.parent.mac].filter((m): m is string => !!m);
  const returned = d.type === 'phys' ? links.find((l) => l.mac !== null && macs.includes(l.mac) && l.kind === null) : undefined;
  const detach = nicDetachPlan(d, {
    insideNs: target.netnsPath,
    insideExists: facts.inside?.exitCode === 0,
    lowerExists: !!lowerNow,
    lowerMadeByUs: lowerNow?.alias?.startsWith('netplumb-vlan:') ?? false,
    lowerStillUsed: await lowerStillUsed(ctx.store, attachment),
    returnedAs: returned?.name ?? null,
  });
  // The DHCP client first: its release goes out while the interface is still there.
  const steps = [...(d.dhcp ? dhcpStopSteps(d, attachment.id) : []), ...detach.steps];
  if (!steps.length) ctx.log(d.hostName, 'info', `attachment ${attachment.id}: nothing left on the host (the target is gone)`);
  await ctx.runPlan({ steps });
  await ctx.store.deleteResource(attachment.id);
}

// ---- observe and repair

/** The inside of a NIC attachment and the device it hangs off on the host (in `hostEnd`: a NIC type has no host end). */
export async function observeNicAttachment(hosts: HostReader, record: TypedResource<'attachment'>): Promise<AttachmentObservation> {
  const attachment = nicData(record);
  const d = attachment.data;
  const target = await currentTarget(hosts, d);
  const commands: Record<string, readonly string[]> = { hostLinks: HOST_LINKS };
  if (target.netnsPath && d.ifname) Object.assign(commands, insideObserveCommands(d, d.ifname, target.netnsPath));
  Object.assign(commands, dhcpObserveCommands(d, attachment.id, target.netnsPath));
  const out = await hosts.read(d.hostId, commands);
  const o = parseAttachmentObservation(d, out);
  const dh = parseDhcpObservation(d, out);
  const hostEnd = lowerOnHost(d, out);
  const drift: DriftItem[] =
    target.running === false
      ? [{ field: 'target', desired: 'running', actual: 'stopped' }]
      : [...nicDrift({ ...expectedWithDhcp(d, dh), parent: d.parent }, { ...o, hostEnd }), ...dhcpDrift(d, dh)];
  return {
    observedAt: new Date().toISOString(),
    target,
    hostEnd,
    inside: { ...o.inside, paired: o.inside.exists },
    ...(dh ? { dhcp: dhcpView(d, dh) } : {}),
    drift,
  };
}

/** In an observation's `hostEnd`: the device a sub-interface hangs off on the host (a NIC type has no host end). */
function lowerOnHost(
  d: AttachmentData & { parent: ParentData },
  out: Record<string, { stdout: string }>,
): ObservedAttachmentEnds['hostEnd'] {
  const lower = parseHostLinks(out.hostLinks?.stdout ?? '').find((l) => l.name === d.parent.lower);
  return {
    exists: !!lower,
    owner: null,
    bridge: null,
    up: null,
    operstate: null,
    mtu: lower?.mtu ?? null,
    vlan: lower?.vlanId ?? null,
    error: null,
  };
}

function nicDrift(d: AttachmentData & { parent: ParentData }, o: ObservedAttachmentEnds): DriftItem[] {
  const drift: DriftItem[] = [];
  // The phys NIC itself is inside: only a sub-interface's lower device stays on the host.
  if (d.type !== 'phys' && !o.hostEnd.exists) drift.push({ field: 'parent', desired: d.parent.lower, actual: null });
  if (!o.inside.exists) drift.push({ field: 'inside', desired: d.ifname, actual: null });
  return [...drift, ...insideDrift(d, o.inside, d.mac ?? d.assignedMac)];
}

/**
 * Repair: a stopped container waits (`target-stopped`); an interface gone from the target (a restarted container) is
 * made again as at create; otherwise what differs inside is reset in place (addresses, up, MTU, MAC, routes, rules).
 */
export async function repairNicAttachment(ctx: JobContext, record: TypedResource<'attachment'>): Promise<void> {
  const attachment = nicData(record);
  const id = attachment.id;
  const d = { ...(await prepareDhcp(ctx.store, attachment.data)), parent: attachment.data.parent };
  const target = await repairTarget(ctx, attachment, d);
  if (!target) return;
  const facts = await ctx.read(d.hostId, {
    ...nicFactCommands(target.netnsPath),
    ...(d.ifname ? insideObserveCommands(d, d.ifname, target.netnsPath) : {}),
    ...dhcpObserveCommands(d, id, target.netnsPath),
  });
  const inode = checkTargetNamespace(d, target, facts.nsInodes);
  const o = { ...parseAttachmentObservation(d, facts), hostEnd: lowerOnHost(d, facts) };
  const dh = parseDhcpObservation(d, facts);
  const ifname = d.ifname ?? pickIfname(innerLinkNames(facts.innerLinks.stdout));
  const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
  if (!o.inside.exists) {
    const { nic, lower, lowerName } = findLower(d, parseHostLinks(facts.hostLinks.stdout), await hostFacts(ctx.store, d));
    ctx.log(d.hostName, 'info', `attachment ${attachment.id}: ${ifname} is not in the target: made again on ${lowerName}`);
    // A phys NIC the kernel gave back under another name keeps its own name in the record (delete gives it back).
    const parent: ParentData = {
      ...d.parent,
      name: d.parent.name ?? nic.name,
      mac: d.parent.mac ?? nic.mac,
      lower: d.type === 'phys' && d.vlan === null ? (d.parent.lower ?? lowerName) : lowerName,
      vlanMade: d.parent.vlanMade || lower === null,
      mtu: d.parent.mtu ?? (lower ?? nic).mtu,
    };
    await whileMacStillBusy(ctx, d, () =>
      runDhcpPlan(ctx, {
        steps: heldAttachSteps(
          attachment.id,
          { ...d, parent, mac: d.mac ?? d.assignedMac },
          target.netnsPath,
          inode,
          { nic, lower, lowerName },
          ifname,
        ),
      }),
    );
    const lease = d.dhcp ? await awaitLease(ctx, d, id) : null;
    await saveResource(
      ctx.store,
      attachment,
      { data: withLease({ ...d, ifname, resolved, parent }, lease), state: 'ready' },
      { rebase: (current) => rebaseReattached(current, { ifname, resolved, parent }, lease) },
    );
    announce(ctx, d, ifname, target.netnsPath);
    return;
  }
  const drift = [...nicDrift({ ...expectedWithDhcp(d, dh), parent: d.parent }, o), ...dhcpDrift(d, dh)];
  // DHCP: the client owns the address; a client gone, in an old namespace, or its address missing is started again.
  const restartDhcp = dhcpNeedsRestart(d, dh, drift);
  if (!drift.length) {
    ctx.log(d.hostName, 'info', `attachment ${id}: no drift`);
  } else {
    ctx.log(d.hostName, 'info', `attachment ${id}: resetting ${drift.map((x) => x.field).join(', ')}`);
    // A DHCP client being started again applies the address itself: the addresses are left as they are until then.
    const want = restartDhcp ? { ...d, addresses: o.inside.addresses } : expectedWithDhcp(d, dh);
    await runDhcpPlan(ctx, {
      steps: holdingNamespace(d.hostId, id, target.netnsPath, inode, (nsPath) => [
        ...convergeInsideSteps({ ...want, ifname, mac: d.mac ?? d.assignedMac }, o.inside, nsPath),
        ...(restartDhcp ? dhcpStartSteps(d, id, ifname, nsPath) : []),
      ]),
    });
  }
  const lease = !d.dhcp ? null : restartDhcp ? await awaitLease(ctx, d, id) : (dh?.lease ?? d.lease);
  await saveResource(
    ctx.store,
    attachment,
    { data: withLease({ ...d, ifname, resolved }, lease), state: 'ready' },
    { rebase: (current) => rebaseReattached(current, { ifname, resolved }, lease) },
  );
}

/** How long a repair waits for a dead namespace's sub-interface to let go of the MAC. */
const MAC_RELEASE_WAIT_MS = 10_000;

/**
 * A restarted container's old namespace is torn down by the kernel after the container is gone (asynchronously):
 * until then its macvlan still holds the MAC on the NIC, and bringing the new one up fails with "Address already in
 * use". The plan was undone; it is tried again, for a few seconds, rather than failing the repair.
 */
async function whileMacStillBusy(ctx: JobContext, d: AttachmentData, run: () => Promise<unknown>): Promise<void> {
  const until = Date.now() + MAC_RELEASE_WAIT_MS;
  for (;;) {
    try {
      await run();
      return;
    } catch (e) {
      const busy = e instanceof ProblemError && /Address already in use/.test(e.problem.detail ?? '');
      if (!busy || Date.now() > until) throw e;
      ctx.log(d.hostName, 'info', 'the MAC is still held by the old namespace (the kernel frees it shortly): trying again');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
