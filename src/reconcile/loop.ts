/**
 * The reconcile loop: hosts converge back to what the store says, by themselves. Per host (its `reconcile` mode:
 * auto, report or off):
 * - a host a probe marked failed is probed again, with backoff (2 s doubling to 60 s), until it answers;
 * - records left `unknown` (a lost outcome, a crash) are resolved once the host answers: finished, or undone;
 * - after a reconnect, a new boot id, and every interval, the host is observed; drift is repaired (auto) or only
 *   logged (report), and orphans are reported, each as a job with its log, so nothing changes silently;
 * - Docker's container events: `start` of a container with attachments re-attaches them (same names, addresses,
 *   MAC) as a job; `die`/`stop` makes them `target-stopped`.
 * Nothing here runs unless the service starts it (server.ts): API tests on the fake host stay deterministic.
 */
import { ExecError } from '../exec/errors.js';
import { hostTarget } from '../jobs/host-target.js';
import { probeAndRecord } from '../jobs/hosts.js';
import { nowIso, readAll, readResource, saveResource } from '../jobs/records.js';
import { newJob, type JobContext, type JobSpec, type JobWork } from '../jobs/runner.js';
import { hostsOf, kindOf, removeAny } from '../kinds/index.js';
import { hostReader, type HostReader, type TypedResource } from '../kinds/kind.js';
import { findOrphans } from '../kinds/orphans.js';
import { repairAll, repairScope, resolveUnknown } from '../kinds/repair.js';
import type { DriftItem, Resource } from '../model/resource.js';
import type { AnyResource } from '../model/resource-data.js';
import type { AppDeps } from '../deps.js';
import type { JobRecord } from '../store/types.js';
import { watchContainers, type ContainerSide } from './containers.js';
import type { DockerEventWatcher } from './docker-events.js';

export interface ReconcilerOptions {
  /** Observe-and-repair every host this often; 0: only after reconnects, reboots and container events. */
  intervalMs: number;
  /** How often the loop looks at its hosts (default 1 s). */
  tickMs?: number;
  /** Re-probe backoff for failed hosts (default 2 s doubling to 60 s). */
  reprobeMinMs?: number;
  reprobeMaxMs?: number;
  /** Watch Docker events on hosts with Docker (default true). */
  dockerEvents?: boolean;
  /** Where the loop says what it does besides jobs (default: the service log). */
  log?: (text: string) => void;
}

interface HostLoopState {
  busy: boolean;
  nextProbeAt: number;
  probeDelay: number;
  lastPassAt: number;
  /** A pass is wanted now (reconnect, reboot, a resolved probe). */
  wanted: string | null;
  bootId: string | undefined;
  connections: number | undefined;
  watcher: DockerEventWatcher | null;
  /** When `unknown` records were last tried (retried with the probe backoff while the host does not answer). */
  nextResolveAt: number;
  /** What the last pass found (drift and orphans), when, and whether its repair failed. */
  lastFindings: string;
  lastFindingsAt: number;
  lastRepairFailed: boolean;
}

const UNSETTLED = new Set(['unknown', 'failed']);

export class Reconciler {
  private readonly state = new Map<string, HostLoopState>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | null = null;
  /** Passes, probes and re-attaches under way (stop waits for them). */
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly reader: HostReader;
  private readonly log: (text: string) => void;

  private readonly containers: ContainerSide;

  constructor(
    private readonly deps: AppDeps,
    private readonly opts: ReconcilerOptions,
  ) {
    this.reader = hostReader(deps.hosts, (id) => hostTarget(deps.store, id));
    const logger = deps.obs.logger.child({ component: 'reconcile' });
    this.log = opts.log ?? ((t) => logger.info(t));
    this.containers = {
      deps,
      reader: this.reader,
      log: this.log,
      job: (spec, work) => this.job(spec, work),
      track: (p) => {
        const tracked = p.finally(() => this.inflight.delete(tracked));
        this.inflight.add(tracked);
      },
      stopped: () => this.stopped,
    };
  }

  start(): this {
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
    void this.tick();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.state.values()) s.watcher?.stop();
    await this.ticking;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  /** Observe (and repair, per its mode) a host at the next round, as after a reconnect. */
  requestPass(hostId: string, why: string): void {
    this.hostState(hostId).wanted = why;
  }

  /** One look at every host (also for tests: resolves when this round's checks have started their jobs). */
  tick(): Promise<void> {
    if (this.ticking || this.stopped) return this.ticking ?? Promise.resolve();
    this.ticking = Promise.resolve()
      .then(() => this.round())
      .catch((e) => this.log(`round failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.ticking = null));
    return this.ticking;
  }

  private hostState(id: string): HostLoopState {
    let s = this.state.get(id);
    if (!s) {
      s = {
        busy: false,
        nextProbeAt: 0,
        probeDelay: this.opts.reprobeMinMs ?? 2000,
        lastPassAt: Date.now(),
        wanted: 'start-up',
        bootId: undefined,
        connections: undefined,
        watcher: null,
        nextResolveAt: 0,
        lastFindings: '',
        lastFindingsAt: 0,
        lastRepairFailed: false,
      };
      this.state.set(id, s);
    }
    return s;
  }

  private async round(): Promise<void> {
    const hosts = await readAll(this.deps.store, 'host');
    const known = new Set(hosts.map((h) => h.id));
    for (const [id, s] of this.state) {
      if (!known.has(id)) {
        s.watcher?.stop();
        this.state.delete(id);
      }
    }
    for (const host of hosts) {
      if (host.state === 'pending' || host.state === 'deleting') continue;
      const s = this.hostState(host.id);
      if (host.data.reconcile === 'off') {
        s.watcher?.stop();
        s.watcher = null;
        continue;
      }
      const down = host.state === 'failed' || host.data.facts?.reachable === false;
      if (!down && host.data.facts?.docker && this.opts.dockerEvents !== false && !s.watcher)
        s.watcher = await watchContainers(this.containers, host.id);
      if (s.busy) continue;
      const now = Date.now();
      if (down) {
        if (now >= s.nextProbeAt) this.run(host.id, s, () => this.reprobe(host.id, s));
        continue;
      }
      // A reboot: the probe saw another boot id.
      const bootId = host.data.facts?.bootId;
      if (bootId && s.bootId && bootId !== s.bootId) s.wanted = `${host.data.name} booted again (boot id ${bootId})`;
      if (bootId) s.bootId = bootId;
      // A reconnect: the SSH executor opened another connection.
      const target = await hostTarget(this.deps.store, host.id);
      const conns = target ? (this.deps.hosts.executor(target) as { connectionCount?: number }).connectionCount : undefined;
      if (conns !== undefined && s.connections !== undefined && conns > s.connections) s.wanted ??= `reconnected to ${host.data.name}`;
      s.connections = conns;
      const unsettled = await this.unsettledOn(host.id, hosts);
      const due = this.opts.intervalMs > 0 && now - s.lastPassAt >= this.opts.intervalMs;
      if ((unsettled.length && now >= s.nextResolveAt) || s.wanted || due) {
        const why = s.wanted ?? (unsettled.length ? `${unsettled.length} unsettled record(s)` : 'interval');
        s.wanted = null;
        this.run(host.id, s, () => this.pass(host.id, s, why));
      }
    }
  }

  /**
   * Records on this host whose outcome is unknown (or whose job was interrupted), and all of whose hosts are up.
   * `hosts`: the hosts as this round read them (a pass reads them again: it may run long after the round).
   */
  private async unsettledOn(hostId: string, hosts?: readonly TypedResource<'host'>[]): Promise<AnyResource[]> {
    const known = hosts && new Map(hosts.map((h) => [h.id, h]));
    const host = known ? known.get(hostId) : await readResource(this.deps.store, 'host', hostId);
    if (!host) return [];
    const unsettled = (await repairScope(this.deps, host)).filter((r) => UNSETTLED.has(r.state));
    if (!unsettled.length) return [];
    // Only now the other hosts those records span (most rounds find nothing unsettled and read no more).
    const byId =
      known ??
      new Map(
        (await Promise.all([...new Set(unsettled.flatMap(hostsOf))].map((id) => readResource(this.deps.store, 'host', id))))
          .filter((h) => h !== null)
          .map((h) => [h.id, h]),
      );
    const up = (h: string) => {
      const x = byId.get(h);
      return !!x && x.state !== 'failed' && x.data.facts?.reachable !== false;
    };
    return unsettled.filter((r) => hostsOf(r).every(up));
  }

  private run(hostId: string, s: HostLoopState, fn: () => Promise<void>): void {
    s.busy = true;
    const p = fn()
      .catch((e) => this.log(`${hostId}: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        s.busy = false;
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  /** Starts a job outside any request, and waits for it. */
  private async job(spec: JobSpec, work: JobWork): Promise<JobRecord> {
    const job = newJob(spec);
    await this.deps.store.insertJob(job);
    this.deps.runner.start(job, work, undefined, spec.lockMode);
    return this.deps.runner.wait(job.id, 3600_000);
  }

  /** `afterPass`: the host failed a pass's reads; if it answers a probe, the next pass waits for its turn (no loop). */
  private async reprobe(hostId: string, s: HostLoopState, afterPass = false): Promise<void> {
    const job = await this.job({ kind: 'host.probe', resource: { type: 'host', id: hostId }, hosts: [hostId] }, async (ctx) => {
      ctx.log(null, 'info', 'the reconcile loop probes this host again (its last probe failed)');
      await probeAndRecord(ctx, hostId);
    });
    if (job.status === 'succeeded') {
      s.probeDelay = this.opts.reprobeMinMs ?? 2000;
      s.nextProbeAt = 0;
      if (!afterPass) s.wanted = 'the host answers again';
    } else {
      s.nextProbeAt = Date.now() + s.probeDelay;
      s.probeDelay = Math.min(s.probeDelay * 2, this.opts.reprobeMaxMs ?? 60_000);
    }
  }

  /** Resolve what is unsettled, then observe everything on the host and repair (or report) what drifted. */
  private async pass(hostId: string, s: HostLoopState, why: string): Promise<void> {
    s.lastPassAt = Date.now();
    const store = this.deps.store;
    const unsettled = await this.unsettledOn(hostId);
    if (unsettled.length) {
      const hosts = [...new Set([hostId, ...unsettled.flatMap(hostsOf)])];
      const job = await this.job({ kind: 'host.resolve', resource: { type: 'host', id: hostId }, hosts }, async (ctx) => {
        ctx.log(null, 'info', `resolving ${unsettled.map((r) => `${r.type} ${r.id} (${r.state})`).join(', ')}`);
        for (const r of unsettled) await this.resolveOne(ctx, r);
      });
      if (job.status !== 'succeeded') {
        s.nextResolveAt = Date.now() + s.probeDelay;
        return;
      }
    }
    const host = await readResource(store, 'host', hostId);
    if (!host || host.data.reconcile === 'off') return;
    let drifted: { r: AnyResource; drift: DriftItem[] }[];
    let orphans: Awaited<ReturnType<typeof findOrphans>>['items'];
    try {
      ({ drifted, orphans } = await this.observeHost(hostId));
    } catch (e) {
      if (e instanceof ExecError) {
        // It stopped answering: let a probe say so (and back off from there).
        this.log(`${host.data.name}: observing failed (${e.message}); probing it`);
        await this.reprobe(hostId, s, true);
        return;
      }
      throw e;
    }
    const mode = host.data.reconcile;
    const metrics = this.deps.obs.metrics;
    metrics.reconcilePasses.inc();
    for (const d of drifted) metrics.driftFound.inc({ kind: d.r.type });
    if (orphans.length) metrics.orphansFound.inc(orphans.length);
    if (drifted.length || orphans.length)
      this.deps.obs.logger.warn(
        {
          component: 'reconcile',
          host: host.data.name,
          why,
          mode,
          drifted: drifted.map((d) => ({ type: d.r.type, id: d.r.id, fields: d.drift.map((x) => x.field) })),
          orphans: orphans.map((o) => ({ kind: o.kind, name: o.name })),
        },
        'reconcile findings',
      );
    // The same findings as last time are not logged again: a report-mode host, orphans left for an operator, or a
    // repair that failed would otherwise make a job every interval (a failed repair is tried again after 10 minutes).
    const signature = JSON.stringify([drifted.map((d) => [d.r.id, d.drift]), orphans]);
    const same = signature === s.lastFindings && Date.now() - s.lastFindingsAt < 600_000;
    if (!drifted.length && !orphans.length) s.lastFindings = '';
    if ((!drifted.length && !orphans.length) || (same && (mode === 'report' || !drifted.length || s.lastRepairFailed))) return;
    s.lastFindings = signature;
    s.lastFindingsAt = Date.now();
    const hosts = [...new Set([hostId, ...drifted.flatMap((d) => hostsOf(d.r))])];
    const done = await this.job({ kind: 'host.reconcile', resource: { type: 'host', id: hostId }, hosts }, async (ctx) => {
      ctx.log(null, 'info', `reconcile (${why}), mode ${mode}`);
      for (const { r, drift } of drifted)
        ctx.log(
          null,
          'info',
          `drift on ${r.type} ${r.id}: ${drift.map((d) => `${d.field} ${JSON.stringify(d.desired)} ≠ ${JSON.stringify(d.actual)}`).join('; ')}`,
        );
      for (const o of orphans)
        ctx.log(
          host.data.name,
          'info',
          `orphan: ${o.kind} ${o.name} marked ${o.owner} (no such record): DELETE /hosts/${host.data.name}/orphans removes it`,
        );
      if (mode === 'report') return ctx.log(null, 'info', 'report mode: nothing changed');
      // Read again under the locks: a job that ran meanwhile may have changed or removed them.
      const fresh = (
        await Promise.all(drifted.map((d) => readResource(ctx.store, d.r.type, d.r.id) as Promise<AnyResource | null>))
      ).filter((r) => r !== null);
      const repairing = fresh.filter((r) => r.state !== 'pending' && r.state !== 'deleting');
      await repairAll(ctx, repairing);
      for (const r of repairing) metrics.driftRepaired.inc({ kind: r.type });
    });
    s.lastRepairFailed = done.status !== 'succeeded';
  }

  /** An unsettled record: an interrupted delete is finished; anything else is finished by a repair, or undone. */
  private async resolveOne(ctx: JobContext, r: AnyResource): Promise<void> {
    const last = r.jobId ? await ctx.store.getJob(r.jobId) : null;
    if (last?.kind.endsWith('.delete')) {
      ctx.log(null, 'info', `${r.type} ${r.id}: its delete (${last.id}) did not finish: finishing it`);
      await removeAny(ctx, r, { cascade: false });
      return;
    }
    await resolveUnknown(ctx, r);
  }

  /** Every resource of the host observed (read-only, outside any lock); those with drift, and the orphans. */
  private async observeHost(hostId: string) {
    const store = this.deps.store;
    const host = await readResource(store, 'host', hostId);
    if (!host) return { drifted: [], orphans: [], observedAt: nowIso() };
    const scope = (await repairScope(this.deps, host)).filter((r) => r.state === 'ready' || r.state === 'target-stopped');
    const drifted: { r: AnyResource; drift: DriftItem[] }[] = [];
    for (const r of scope) {
      try {
        const d = await this.observeOne(r);
        if (d) drifted.push(d);
      } catch (e) {
        // The host not answering ends the pass (a probe says why); anything else concerns this resource only.
        if (e instanceof ExecError) throw e;
        this.log(`observing ${r.type} ${r.id} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const orphans = (await findOrphans(this.reader, store, hostId)).items;
    return { drifted, orphans, observedAt: nowIso() };
  }

  private async observeOne(r: AnyResource): Promise<{ r: AnyResource; drift: DriftItem[] } | null> {
    const store = this.deps.store;
    // Through the resource's kind: the same observe `?observe=true` uses (an attachment's impairments included).
    const kind = kindOf(r.type);
    if (!kind.observe) return null;
    const o = await kind.observe(this.reader, r, store);
    if ((o as { target?: { running?: boolean | null } }).target?.running === false) {
      // Compare-and-set on the record as read before the host was: a change made meanwhile (a PATCH, a delete, a
      // job) wins, and the next pass decides again on the record as it is then.
      if (r.state !== 'target-stopped')
        await saveResource(store, r as Resource<unknown>, { state: 'target-stopped' }, { stillWanted: () => false });
      return null;
    }
    let drift: DriftItem[] = o.drift;
    // A bridge's member ports are repaired with their own resources.
    if (r.type === 'bridge') drift = drift.filter((d) => !d.field.startsWith('port:'));
    return drift.length || r.state === 'target-stopped' ? { r, drift } : null;
  }
}

export function startReconciler(deps: AppDeps, opts: ReconcilerOptions): Reconciler {
  return new Reconciler(deps, opts).start();
}

/**
 * The reconcile loop as a duty one process does at a time (Coordination.lead): with replicas on PostgreSQL only the
 * leader observes, repairs and watches Docker events — two loops would race each other's re-attaches — and another
 * replica takes over when it dies. One process (SQLite) just runs it.
 */
export function startLeadingReconciler(deps: AppDeps, opts: ReconcilerOptions): { stop(): Promise<void> } {
  if (!deps.coordination.lead) {
    deps.obs.setLeader(true);
    const r = startReconciler(deps, opts);
    return {
      stop: () => {
        deps.obs.setLeader(false);
        return r.stop();
      },
    };
  }
  let running: Reconciler | null = null;
  deps.obs.setLeader(false);
  const held = deps.coordination.lead({
    start: () => {
      deps.obs.setLeader(true);
      deps.obs.logger.info({ component: 'reconcile' }, 'this replica leads the reconcile loop');
      running = startReconciler(deps, opts);
    },
    stop: async () => {
      deps.obs.setLeader(false);
      const r = running;
      running = null;
      await r?.stop();
    },
  });
  return { stop: () => held.close() };
}
