/**
 * Containers that restart keep their network: the reconcile loop's Docker side. A container's `start` re-attaches
 * its attachments (one `attachment.reattach` job per container: same names, addresses and MAC, in its new namespace);
 * `die`/`stop` makes them `target-stopped`; every (re)connect of the event stream syncs what was missed.
 */
import { hostTarget } from '../jobs/host-target.js';
import { readAll, readResource, saveResource } from '../jobs/records.js';
import type { JobSpec, JobWork } from '../jobs/runner.js';
import { repairAttachment } from '../kinds/attachment.js';
import { dhcpStopSteps } from '../ops/dhcp.js';
import type { Step } from '../ops/plan.js';
import type { HostReader } from '../kinds/kind.js';
import type { AppDeps } from '../deps.js';
import type { JobRecord } from '../store/types.js';
import { DockerEventWatcher, type ContainerEvent } from './docker-events.js';

/** What the loop lends its container side. */
export interface ContainerSide {
  deps: AppDeps;
  reader: HostReader;
  log: (text: string) => void;
  /** Starts a job and resolves when it ended. */
  job: (spec: JobSpec, work: JobWork) => Promise<JobRecord>;
  /** Work under way, that stopping the loop waits for. */
  track: (p: Promise<unknown>) => void;
  stopped: () => boolean;
}

export async function watchContainers(side: ContainerSide, hostId: string): Promise<DockerEventWatcher> {
  const { deps } = side;
  const name = (await readResource(deps.store, 'host', hostId))?.data.name ?? hostId;
  const watcher = new DockerEventWatcher({
    docker: async () => {
      const t = await hostTarget(deps.store, hostId);
      if (!t) throw new Error(`host ${hostId} no longer exists`);
      return deps.hosts.docker(t);
    },
    onEvent: (e) =>
      side.track(
        onContainerEvent(side, hostId, e).catch((err) =>
          side.log(
            `${name}: handling container ${e.action} of ${e.name ?? e.id} failed: ${err instanceof Error ? err.message : String(err)}`,
          ),
        ),
      ),
    onConnect: () =>
      side.track(
        syncContainers(side, hostId).catch((e) =>
          side.log(`${name}: container sync failed: ${e instanceof Error ? e.message : String(e)}`),
        ),
      ),
    log: (t) => side.log(`${name}: ${t}`),
  });
  watcher.start();
  return watcher;
}

/** Container attachments on a host that follow this container (by name as given, or the id it was found with). */
async function attachmentsOf(side: ContainerSide, hostId: string, e: { id: string; name: string | null }) {
  return (await readAll(side.deps.store, 'attachment', { hostId })).filter((a) => {
    const t = a.data.target;
    if (!('container' in t) || a.state === 'pending' || a.state === 'deleting') return false;
    const ref = t.container.replace(/^\//, '');
    return ref === e.name || ref === e.id || e.id.startsWith(ref) || a.data.resolved?.containerId === e.id;
  });
}

async function onContainerEvent(side: ContainerSide, hostId: string, e: ContainerEvent): Promise<void> {
  if (side.stopped()) return;
  const atts = await attachmentsOf(side, hostId, e);
  if (!atts.length) return;
  if (e.action === 'start') {
    const why = `container ${e.name ?? e.id.slice(0, 12)} started`;
    side.track(
      reattach(
        side,
        hostId,
        why,
        atts.map((a) => a.id),
      ).catch((err) => side.log(`${why}: ${String(err)}`)),
    );
    return;
  }
  for (const a of atts)
    if (a.state === 'ready') await saveResource(side.deps.store, a, { state: 'target-stopped' }, { stillWanted: () => false });
  // DHCP clients would renew for nobody and keep the dead namespace alive: stopped (a start re-attaches and restarts them).
  const dhcp = atts.filter((a) => a.data.dhcp).map((a) => a.id);
  if (dhcp.length) {
    const why = `container ${e.name ?? e.id.slice(0, 12)} stopped`;
    side.track(stopDhcpClients(side, hostId, why, dhcp).catch((err) => side.log(`${why}: ${String(err)}`)));
  }
}

/** One job: the DHCP clients of attachments whose container stopped (skipped when it is running again by then). */
function stopDhcpClients(side: ContainerSide, hostId: string, why: string, ids: string[]): Promise<JobRecord> {
  return side.job(
    { kind: 'attachment.dhcp-stop', resource: { type: 'attachment', id: ids[0]! }, hosts: [hostId], lockMode: 'exclusive' },
    async (ctx) => {
      const steps: Step[] = [];
      for (const id of ids) {
        const a = await readResource(ctx.store, 'attachment', id);
        if (a && a.state === 'target-stopped') steps.push(...dhcpStopSteps(a.data, id));
      }
      ctx.log(null, 'info', `${why}: stopping ${steps.length} DHCP client(s)`);
      if (steps.length) await ctx.runPlan({ steps });
    },
  );
}

/** One job per container: its attachments made again in its new namespace. */
function reattach(side: ContainerSide, hostId: string, why: string, ids: string[]): Promise<JobRecord> {
  return side.job(
    // Exclusive: an event's re-attach and a reconnect's sync of the same container never overlap (the second finds
    // nothing to do); a shared hold would let both delete and make the same pair.
    { kind: 'attachment.reattach', resource: { type: 'attachment', id: ids[0]! }, hosts: [hostId], lockMode: 'exclusive' },
    async (ctx) => {
      ctx.log(null, 'info', `${why}: re-attaching ${ids.join(', ')}`);
      const failures: unknown[] = [];
      for (const id of ids) {
        if (!(await readResource(ctx.store, 'attachment', id))) continue;
        try {
          await repairAttachment(ctx, id);
        } catch (e) {
          failures.push(e);
          ctx.log(null, 'error', `re-attaching ${id} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (failures.length) throw failures[0];
    },
  );
}

/** After the event stream (re)opened: containers that restarted or stopped while nobody listened. */
async function syncContainers(side: ContainerSide, hostId: string): Promise<void> {
  const byContainer = new Map<string, string[]>();
  for (const a of await readAll(side.deps.store, 'attachment', { hostId })) {
    const t = a.data.target;
    if (!('container' in t) || a.state === 'pending' || a.state === 'deleting') continue;
    let c;
    try {
      c = await side.reader.container(hostId, t.container);
    } catch {
      return; // Docker does not answer: the next reconnect syncs again
    }
    if (!c || !c.running) {
      if (a.state === 'ready') await saveResource(side.deps.store, a, { state: 'target-stopped' }, { stillWanted: () => false });
    } else if (a.state === 'target-stopped' || (a.state === 'ready' && a.data.resolved?.pid !== c.pid)) {
      byContainer.set(c.id, [...(byContainer.get(c.id) ?? []), a.id]);
    }
  }
  for (const [id, ids] of byContainer) await reattach(side, hostId, `container ${id.slice(0, 12)} restarted while unwatched`, ids);
}
