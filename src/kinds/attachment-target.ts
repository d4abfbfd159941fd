/**
 * An attachment's target namespace (resolve, check, observe, repair) and the addressing every attachment type shares:
 * used by the veth kind (attachment.ts), the NIC types (attachment-nic.ts) and impairments, which attachment.ts
 * imports in turn; kept apart so those modules form no import cycle (docs/architecture.md, layer rules).
 */
import { ContainerNotFoundError, ContainerNotRunningError, resolveContainer } from '../docker/index.js';
import { saveResource } from '../jobs/records.js';
import type { JobContext } from '../jobs/runner.js';
import type { AttachmentCreate, AttachmentData } from '../model/attachments.js';
import { ProblemError } from '../model/problems.js';
import { gratuitousArp, macFromSeed, netnsPath } from '../ops/attachments.js';
import { dhcpStopSteps } from './attachment-dhcp.js';
import type { HostReader, TypedResource } from './kind.js';

/** The fields every type shares: addresses or DHCP, MAC (given or from a seed), routes and rules. */
export function addressingData(body: AttachmentCreate) {
  const dhcp = body.addresses === 'dhcp';
  return {
    addresses: dhcp ? [] : (body.addresses as string[]),
    dhcp: dhcp ? { client: body.dhcpClient ?? null } : null,
    lease: null,
    gateway: body.gateway ?? null,
    routes: body.routes,
    rules: body.rules,
    mac: body.mac ?? (body.macSeed !== undefined ? macFromSeed(body.macSeed) : null),
    macSeed: body.macSeed ?? null,
  };
}

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

/** The target's namespace inode, after checking it is not the host's own (routes meant for a container would cut the host off). */
export function checkTargetNamespace(d: AttachmentData, target: ResolvedTarget, nsInodes: { exitCode: number; stdout: string }): string {
  const [hostNs, targetNs] = nsInodes.stdout.trim().split('\n');
  if (nsInodes.exitCode !== 0 || !targetNs) {
    throw new ProblemError('not-found', `the target's network namespace ${target.netnsPath} does not exist on ${d.hostName}`);
  }
  if (hostNs === targetNs) {
    throw new ProblemError(
      'conflict',
      `the target (${target.netnsPath}) is ${d.hostName}'s own network namespace; attach a container, a named namespace or a pid in another namespace`,
      { errors: [{ pointer: '/target', detail: "the host's own network namespace" }] },
    );
  }
  return targetNs;
}

/** Gratuitous ARP costs about a second: sent without holding the job. */
export function announce(ctx: JobContext, d: AttachmentData, ifname: string, nsPath: string): void {
  for (const argv of gratuitousArp(d, ifname, nsPath)) {
    ctx.log(d.hostName, 'info', `gratuitous ARP in the background: ${argv.slice(2).join(' ')}`);
    void ctx
      .executor(d.hostId)
      .run(argv, { timeoutMs: 5000 })
      .catch(() => undefined);
  }
}

/** The namespace an attachment's target has now, without a job (observe): null when it has none (stopped, gone). */
export async function currentTarget(
  hosts: HostReader,
  d: AttachmentData,
): Promise<{ running: boolean | null; pid: number | null; containerId: string | null; netnsPath: string | null }> {
  const t = d.target;
  if ('container' in t) {
    const c = await hosts.container(d.hostId, t.container);
    if (!c || !c.running || c.pid <= 0) return { running: false, pid: null, containerId: c?.id ?? null, netnsPath: null };
    return { running: true, pid: c.pid, containerId: c.id, netnsPath: netnsPath({ pid: c.pid }) };
  }
  return { running: null, pid: 'pid' in t ? t.pid : null, containerId: null, netnsPath: netnsPath(t) };
}

/** The target's namespace now, or null when the container is stopped or gone (what was inside went with it). */
export async function targetIfRunning(ctx: JobContext, d: AttachmentData): Promise<{ netnsPath: string | null }> {
  try {
    return await resolveTarget(ctx, d);
  } catch (e) {
    if (e instanceof ProblemError && /\/container-not-(running|found)$/.test(e.problem.type)) return { netnsPath: null };
    throw e;
  }
}

/**
 * The target a repair works in, or null when its container is stopped: the attachment waits for it (`target-stopped`).
 * A DHCP client would keep the old namespace alive (and renew for nobody): it is stopped, and started again with the
 * target.
 */
export async function repairTarget(
  ctx: JobContext,
  attachment: TypedResource<'attachment'>,
  d: AttachmentData,
): Promise<ResolvedTarget | null> {
  try {
    return await resolveTarget(ctx, d);
  } catch (e) {
    if (e instanceof ProblemError && e.problem.type.endsWith('/container-not-running')) {
      ctx.log(d.hostName, 'info', `container ${JSON.stringify(d.container)} is stopped: the attachment waits for it to start`);
      if (d.dhcp) await ctx.runPlan({ steps: dhcpStopSteps(d, attachment.id) });
      await saveResource(ctx.store, attachment, { state: 'target-stopped' });
      return null;
    }
    throw e;
  }
}
