/** Attachment jobs: find the target's namespace, check names, run the plan, record the outcome. */
import { ContainerNotFoundError, ContainerNotRunningError, resolveContainer } from '../docker/index.js';
import type { AttachmentData } from '../model/attachments.js';
import { ProblemError } from '../model/problems.js';
import { attachmentFactCommands, attachPlan, detachPlan, gratuitousArp, linkNames, netnsPath, pickIfname } from '../ops/attachments.js';
import { ownerFromAlias, parseIpJson } from '../ops/links.js';
import type { HostServices } from '../exec/pool.js';
import type { ResourceRecord } from '../store/types.js';
import { dependentDeleters } from './dependents.js';
import type { JobContext } from './runner.js';
import { runNamed } from '../exec/run-named.js';

async function resolveTarget(ctx: JobContext, hosts: HostServices, d: AttachmentData) {
  const t = d.target;
  if ('container' in t) {
    try {
      const c = await resolveContainer(hosts.docker(ctx.host(d.hostId)), t.container);
      ctx.log(d.hostName, 'info', `container ${t.container} → ${c.id.slice(0, 12)} (${c.name}), pid ${c.pid}`);
      return { pid: c.pid, containerId: c.id, containerName: c.name, netnsPath: netnsPath({ pid: c.pid }), nsRef: String(c.pid) };
    } catch (e) {
      if (e instanceof ContainerNotFoundError) throw new ProblemError('container-not-found', `container ${JSON.stringify(t.container)} does not exist on ${d.hostName}`, { container: t.container });
      if (e instanceof ContainerNotRunningError) throw new ProblemError('container-not-running', `container ${JSON.stringify(t.container)} on ${d.hostName} is not running (${e.status})`, { container: t.container });
      throw e;
    }
  }
  if ('netns' in t) return { pid: null, containerId: null, containerName: null, netnsPath: netnsPath(t), nsRef: t.netns };
  return { pid: t.pid, containerId: null, containerName: null, netnsPath: netnsPath(t), nsRef: String(t.pid) };
}

export async function createAttachment(ctx: JobContext, hosts: HostServices, id: string): Promise<void> {
  const rec = ctx.store.getResource(id)!;
  const d = rec.data as unknown as AttachmentData;
  try {
    const target = await resolveTarget(ctx, hosts, d);
    const { nsInodes, innerLinks: inner, hostLink } = await runNamed(attachmentFactCommands(target.netnsPath, d.hostIfname), (argv) => ctx.run(d.hostId, argv));
    if (nsInodes.exitCode !== 0 || inner.exitCode !== 0) {
      throw new ProblemError('not-found', `the target's network namespace ${target.netnsPath} does not exist on ${d.hostName}`);
    }
    const [hostNs, targetNs] = nsInodes.stdout.trim().split('\n');
    if (hostNs && hostNs === targetNs) {
      // Routes and addresses meant for a container would land on the host itself (and could cut it off).
      throw new ProblemError('conflict', `the target (${target.netnsPath}) is ${d.hostName}'s own network namespace; attach a container, a named namespace or a pid in another namespace`, { errors: [{ pointer: '/target', detail: "the host's own network namespace" }] });
    }
    const existing = linkNames(inner.stdout);
    if (d.ifname && existing.includes(d.ifname)) {
      throw new ProblemError('conflict', `${d.ifname} already exists in the target on ${d.hostName}`, { errors: [{ pointer: '/ifname', detail: 'already present in the target' }] });
    }
    if (hostLink.exitCode === 0) {
      const owner = ownerFromAlias(parseIpJson(hostLink.stdout)[0]?.alias ?? null);
      throw new ProblemError('conflict', `${d.hostIfname} already exists on ${d.hostName}${owner ? ` (made for ${owner})` : ''}`, { errors: [{ pointer: '/hostIfname', detail: 'already present on the host' }] });
    }
    const ifname = d.ifname ?? pickIfname(existing);
    const resolved = { pid: target.pid, containerId: target.containerId, containerName: target.containerName, netnsPath: target.netnsPath };
    await ctx.runPlan(attachPlan({ id, d, ifname, nsPath: target.netnsPath, nsRef: target.nsRef }));
    const next: AttachmentData = { ...d, ifname, resolved, txChecksumOffloadOff: d.datapathType === 'netdev' };
    ctx.store.updateResource({ ...rec, data: next as never, state: 'ready', updatedAt: new Date().toISOString() });
    // Gratuitous ARP costs about a second: send it without holding the job.
    for (const argv of gratuitousArp(d, ifname, target.netnsPath)) {
      ctx.log(d.hostName, 'info', `gratuitous ARP in the background: ${argv.slice(2).join(' ')}`);
      void hosts.executor(ctx.host(d.hostId)).run(argv, { timeoutMs: 5000 }).catch(() => undefined);
    }
  } catch (e) {
    ctx.store.deleteResource(id);
    throw e;
  }
}

export async function deleteAttachment(ctx: JobContext, rec: ResourceRecord): Promise<void> {
  const d = rec.data as unknown as AttachmentData;
  const link = await ctx.run(d.hostId, ['ip', '-j', 'link', 'show', 'dev', d.hostIfname]);
  await ctx.runPlan(detachPlan(d, link.exitCode === 0));
  ctx.store.deleteResource(rec.id);
}

dependentDeleters.attachment = deleteAttachment;
