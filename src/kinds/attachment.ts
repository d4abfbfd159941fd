/** Attachments: a veth pair from a bridge into a container, a named netns or a pid's namespace. */
import { ContainerNotFoundError, ContainerNotRunningError, resolveContainer } from '../docker/index.js';
import { mustRead, readResource, saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import { normalizeAttachmentImpairment, type ImpairmentSpec, type LinkState } from '../model/impairments.js';
import {
  defaultHostIfname,
  renderAttachment,
  type AttachmentCreate,
  type AttachmentData,
  type AttachmentView,
} from '../model/attachments.js';
import { bridgeRef } from '../model/bridges.js';
import { idPattern } from '../model/names.js';
import { ProblemError } from '../model/problems.js';
import { attachmentFactCommands, attachPlan, detachPlan, gratuitousArp, linkNames, netnsPath, pickIfname } from '../ops/attachments.js';
import { ownerFromAlias, parseIpJson } from '../ops/links.js';
import type { Store } from '../store/types.js';
import type { Observation, ResourceKind, TypedResource } from './kind.js';
import { checkAttachmentImpairment, impairmentDetachSteps, impairOnCreatePlan, observeAttachmentImpairment } from './impairments.js';
import { interfaceNamesOnHost, requireBridge } from './refs.js';

// ---- request → data

/** Every check that needs no host: the bridge, the VLAN, the host's facts, the host end's name. */
export function resolveAttachment(store: Store, body: AttachmentCreate, id: string): { data: AttachmentData; key: string } {
  const bridge = requireBridge(store, body.bridge, '/bridge');
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
  const facts = readResource(store, 'host', b.hostId)?.data.facts;
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
  const owner = interfaceNamesOnHost(store, b.hostId).get(hostIfname);
  if (owner)
    throw new ProblemError('conflict', `${hostIfname} is already used on ${b.hostName} by ${owner}`, {
      errors: [{ pointer: '/hostIfname', detail: 'in use' }],
    });
  const data: AttachmentData = {
    ...bridgeRef(bridge),
    target: body.target,
    resolved: null,
    ifname: body.ifname ?? null,
    hostIfname,
    addresses: body.addresses,
    gateway: body.gateway ?? null,
    routes: body.routes,
    mac: body.mac ?? null,
    mtu: body.mtu ?? b.overlayMtu ?? b.mtu ?? null,
    vlan: body.vlan ?? null,
    txChecksumOffloadOff: false,
    labels: body.labels,
    container: 'container' in body.target ? body.target.container : null,
    ...(body.impairment ? { impairment: normalizeAttachmentImpairment(body.impairment) } : {}),
    ...(body.link ? { link: body.link } : {}),
  };
  checkAttachmentImpairment(store, data, body.impairment);
  return { data, key: `${b.hostId}/${hostIfname}` };
}

// ---- job work

/** How a job reaches an attachment's target: its namespace path, what `ip link … netns` takes, and the container found. */
export interface ResolvedTarget {
  pid: number | null;
  containerId: string | null;
  containerName: string | null;
  netnsPath: string;
  nsRef: string;
}

/** The target's namespace: a container through Docker (404/409 problems when missing or stopped), a netns or a pid. */
export async function resolveTarget(ctx: JobContext, d: AttachmentData): Promise<ResolvedTarget> {
  const t = d.target;
  if ('container' in t) {
    try {
      const c = await resolveContainer(ctx.docker(d.hostId), t.container);
      ctx.log(d.hostName, 'info', `container ${t.container} → ${c.id.slice(0, 12)} (${c.name}), pid ${c.pid}`);
      return { pid: c.pid, containerId: c.id, containerName: c.name, netnsPath: netnsPath({ pid: c.pid }), nsRef: String(c.pid) };
    } catch (e) {
      if (e instanceof ContainerNotFoundError)
        throw new ProblemError(
          'container-not-found',
          `container ${JSON.stringify(t.container)} does not exist on ${d.hostName}`,
          { container: t.container },
          { cause: e },
        );
      if (e instanceof ContainerNotRunningError)
        throw new ProblemError(
          'container-not-running',
          `container ${JSON.stringify(t.container)} on ${d.hostName} is not running (${e.status})`,
          { container: t.container },
          { cause: e },
        );
      throw e;
    }
  }
  if ('netns' in t) return { pid: null, containerId: null, containerName: null, netnsPath: netnsPath(t), nsRef: t.netns };
  return { pid: t.pid, containerId: null, containerName: null, netnsPath: netnsPath(t), nsRef: String(t.pid) };
}

export async function createAttachment(ctx: JobContext, id: string): Promise<void> {
  const attachment = mustRead(ctx.store, 'attachment', id);
  const d = attachment.data;
  try {
    const target = await resolveTarget(ctx, d);
    const { nsInodes, innerLinks, hostLink } = await ctx.read(d.hostId, attachmentFactCommands(target.netnsPath, d.hostIfname));
    if (nsInodes.exitCode !== 0 || innerLinks.exitCode !== 0) {
      throw new ProblemError('not-found', `the target's network namespace ${target.netnsPath} does not exist on ${d.hostName}`);
    }
    const [hostNs, targetNs] = nsInodes.stdout.trim().split('\n');
    if (hostNs && hostNs === targetNs) {
      // Routes and addresses meant for a container would land on the host itself (and could cut it off).
      throw new ProblemError(
        'conflict',
        `the target (${target.netnsPath}) is ${d.hostName}'s own network namespace; attach a container, a named namespace or a pid in another namespace`,
        { errors: [{ pointer: '/target', detail: "the host's own network namespace" }] },
      );
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
    const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
    const attach = attachPlan({ id, d, ifname, nsPath: target.netnsPath, nsRef: target.nsRef });
    await ctx.runPlan({ steps: [...attach.steps, ...impairOnCreatePlan(ctx.store, id, d, ifname, target.netnsPath).steps] });
    saveResource(ctx.store, attachment, {
      data: { ...d, ifname, resolved, txChecksumOffloadOff: d.datapathType === 'netdev' },
      state: 'ready',
    });
    // Gratuitous ARP costs about a second: send it without holding the job.
    for (const argv of gratuitousArp(d, ifname, target.netnsPath)) {
      ctx.log(d.hostName, 'info', `gratuitous ARP in the background: ${argv.slice(2).join(' ')}`);
      void ctx
        .executor(d.hostId)
        .run(argv, { timeoutMs: 5000 })
        .catch(() => undefined);
    }
  } catch (e) {
    ctx.store.deleteResource(id);
    throw e;
  }
}

async function removeAttachment(ctx: JobContext, attachment: TypedResource<'attachment'>): Promise<void> {
  const d = attachment.data;
  const link = await ctx.run(d.hostId, ['ip', '-j', 'link', 'show', 'dev', d.hostIfname]);
  const detach = detachPlan(d, link.exitCode === 0);
  await ctx.runPlan({ steps: [...impairmentDetachSteps(attachment.id, d), ...detach.steps] });
  ctx.store.deleteResource(attachment.id);
}

/** What observe reads for an attachment (issue 17: impairments and the cable), plus drift in the shared shape. */
export interface AttachmentObservation extends Observation {
  impairment: { toContainer: ImpairmentSpec; fromContainer: ImpairmentSpec };
  link: LinkState | null;
}

export const attachmentKind: ResourceKind<'attachment', AttachmentView, AttachmentObservation> = {
  type: 'attachment',
  noun: 'attachment',
  lockMode: 'shared',
  describe: (attachment) => attachment.id,
  render: renderAttachment,
  find: (store, ref) => (idPattern('attachment').test(ref) ? readResource(store, 'attachment', ref) : null),
  hosts: (attachment) => [attachment.data.hostId],
  dependents: () => [],
  // Impairments and the cable only (issue 17); the attachment's other fields join the same drift list when observed.
  async observe(hosts, attachment) {
    const { observed, drift } = await observeAttachmentImpairment(hosts, attachment.id, attachment.data);
    return {
      observedAt: new Date().toISOString(),
      impairment: { toContainer: observed.toContainer, fromContainer: observed.fromContainer },
      link: observed.link,
      drift,
    };
  },
  remove: (ctx, attachment) => removeAttachment(ctx, attachment),
};
