/**
 * DHCP for attachments, job side (the plans are in ops/dhcp.ts): which client runs, the lease read back and recorded,
 * the no-lease problem, and what observe and repair see of the client. Used by every attachment type: veth
 * (kinds/attachment.ts) and the NIC types (kinds/attachment-nic.ts).
 *
 * Create: `await prepareDhcp(store, d)` → data with the client chosen; plan = attach steps + `dhcpStartSteps(d, id, ifname,
 * nsPath)` (script, start, wait for the first lease: a wait that runs out fails the plan, so the runner undoes it
 * all); run it through `runDhcpPlan(ctx, plan)` (turns the wait's failure into the `dhcp-no-lease` problem); then
 * `awaitLease(ctx, d, id)` and save `withLease(d, lease)`. Delete: `dhcpStopSteps(d, id)` FIRST (the release goes out
 * while the interface still exists), then the detach steps.
 */
import type { JobContext } from '../jobs/runner.js';
import { readResource } from '../jobs/records.js';
import type { AttachmentData, AttachmentObservation, DhcpLease } from '../model/attachments.js';
import { isUnknownOutcome } from './unknown.js';
import { ProblemError } from '../model/problems.js';
import type { DriftItem } from '../model/resource.js';
import {
  chooseDhcpClient,
  dhcpStatusArgv,
  LEASE_WAIT_SECONDS,
  LEASE_WAIT_STEP,
  leaseReadArgv,
  parseDhcpStatus,
  parseLeaseFile,
  type DhcpClientStatus,
} from '../ops/dhcp.js';
import type { Plan } from '../ops/plan.js';
import type { Store } from '../store/types.js';

export { dhcpStartSteps, dhcpStopSteps, staticAddressing, withLease } from '../ops/dhcp.js';

/**
 * Resolve-time check (no command runs): a client netplumb can run on the host, as its last probe saw it — a requested
 * client the host lacks, a host without any, and dhcpcd are 422 (pointing at `dhcpClient` when one was asked for).
 */
export async function checkDhcpClient(store: Store, d: AttachmentData, requested: boolean): Promise<void> {
  if (!d.dhcp) return;
  const clients = (await readResource(store, 'host', d.hostId))?.data.facts?.dhcpClients;
  const refuse = (detail: string) => {
    throw ProblemError.validation([{ pointer: requested ? '/dhcpClient' : '/addresses', detail }]);
  };
  if (clients && d.dhcp.client !== 'dhcpcd') {
    if (d.dhcp.client && !clients.includes(d.dhcp.client))
      refuse(`${d.hostName} has no ${d.dhcp.client} (its DHCP clients: ${clients.join(', ') || 'none'})`);
    if (!clients.length)
      refuse(
        `${d.hostName} has no DHCP client (udhcpc from busybox, dhclient or dhcpcd); install one, then POST /hosts/${d.hostName}/probe`,
      );
  }
  const chosen = chooseDhcpClient(d.dhcp.client, clients);
  if ('refused' in chosen) refuse(`${d.hostName}: ${chosen.refused}`);
}

/** The data with the client that will run filled in (the requested one, else the first the host has that we run). Never throws. */
export async function prepareDhcp(store: Store, d: AttachmentData): Promise<AttachmentData> {
  if (!d.dhcp || d.dhcp.client) return d;
  const chosen = chooseDhcpClient(null, (await readResource(store, 'host', d.hostId))?.data.facts?.dhcpClients);
  // Refused at resolve time already (422); a host re-probed since: udhcpc is tried (its start step says what is missing).
  return { ...d, dhcp: { client: 'refused' in chosen ? 'udhcpc' : chosen.client } };
}

/** Runs a plan with dhcpStartSteps in it: a wait that ran out is the `dhcp-no-lease` problem (the plan was undone). */
export async function runDhcpPlan(ctx: JobContext, plan: Plan): Promise<void> {
  try {
    await ctx.runPlan(plan);
  } catch (e) {
    throw dhcpProblem(e);
  }
}

/** The wait step's failure as the problem a user reads; anything else unchanged. */
export function dhcpProblem(e: unknown): unknown {
  if (!(e instanceof ProblemError) || !e.problem.type.endsWith('/command-failed')) return e;
  const detail = e.problem.detail ?? '';
  if (!detail.startsWith(LEASE_WAIT_STEP)) return e;
  // "<step> failed on <host> (exit 1): <the client's last lines> | <why>" (plan-runner's commandFailed).
  const m = /^(.*?) failed on (.+?) \(exit \d+\)(?:: (.*))?$/s.exec(detail);
  const lines = (m?.[3] ?? '').split(' | ').filter(Boolean);
  const why = lines.find((l) => /^no DHCP lease from the segment within|^the DHCP client exited before/.test(l));
  const said = lines.filter((l) => l !== why);
  const where = m
    ? `${m[1]!
        .slice(LEASE_WAIT_STEP.length)
        .replace(/ \(up to \d+ s\)$/, '')
        .trim()} on ${m[2]}`
    : '';
  return new ProblemError(
    'dhcp-no-lease',
    `${why ?? `no DHCP lease from the segment within ${LEASE_WAIT_SECONDS} s`}${where ? ` (${where})` : ''}: is a DHCP server on the segment? Everything the job made was undone${said.length ? `. The client said: ${said.join(' | ')}` : ''}`,
    { host: e.problem['host'] },
    { cause: e },
  );
}

/**
 * The lease the client got, from its lease file: read at once after a plan whose wait step saw it, else polled up to
 * `seconds` (then the `dhcp-no-lease` problem).
 */
export async function awaitLease(ctx: JobContext, d: AttachmentData, id: string, seconds = LEASE_WAIT_SECONDS): Promise<DhcpLease> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const r = await ctx.run(d.hostId, leaseReadArgv(id));
    const lease = r.exitCode === 0 ? parseLeaseFile(r.stdout, new Date().toISOString()) : null;
    if (lease) {
      ctx.log(
        d.hostName,
        'info',
        `DHCP lease ${lease.address}${lease.router ? ` router ${lease.router}` : ''} from ${lease.server ?? 'an unnamed server'} for ${lease.leaseSeconds ?? '?'} s`,
      );
      return lease;
    }
    if (Date.now() >= end) throw new ProblemError('dhcp-no-lease', `no DHCP lease from the segment within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * After a create whose plan made everything (the client included), the lease; when it cannot be read although the
 * host answers, what the plan made is taken down again (`undo`), so a failed create leaves no interface and no client
 * behind. A lost connection is left to the caller (the record stays `unknown`).
 */
export async function leaseOrUndo(ctx: JobContext, d: AttachmentData, id: string, undo: () => Promise<void>): Promise<DhcpLease | null> {
  if (!d.dhcp) return null;
  try {
    return await awaitLease(ctx, d, id);
  } catch (e) {
    if (isUnknownOutcome(e)) throw e;
    ctx.log(d.hostName, 'error', `the lease could not be read (${e instanceof Error ? e.message : String(e)}): undoing the attachment`);
    await undo();
    throw e;
  }
}

// ---- observe and repair

/** Read-only commands for observe (merged into the attachment's own read): the client's status and its lease now. */
export function dhcpObserveCommands(d: AttachmentData, id: string, targetNsPath: string | null): Record<string, string[]> {
  if (!d.dhcp) return {};
  return { dhcpStatus: dhcpStatusArgv(id, targetNsPath), dhcpLease: leaseReadArgv(id) };
}

export interface DhcpObserved {
  status: DhcpClientStatus;
  /** The lease file now (the recorded lease is kept when it has none). */
  lease: DhcpLease | null;
}

export function parseDhcpObservation(d: AttachmentData, out: Record<string, { exitCode: number; stdout: string }>): DhcpObserved | null {
  if (!d.dhcp) return null;
  const now = out['dhcpLease'];
  const fromFile = now && now.exitCode === 0 ? parseLeaseFile(now.stdout, d.lease?.obtainedAt ?? new Date().toISOString()) : null;
  // Same address as recorded: the recorded one (its obtainedAt is when it was first leased).
  const lease = fromFile && d.lease && fromFile.address === d.lease.address ? { ...fromFile, obtainedAt: d.lease.obtainedAt } : fromFile;
  return { status: parseDhcpStatus(out['dhcpStatus']), lease };
}

/**
 * The record as observe should compare it: the address expected is the one the client holds now (a renewal may have
 * moved it), else the recorded one. The leased address is never drift to remove.
 */
export function expectedWithDhcp(d: AttachmentData, o: DhcpObserved | null): AttachmentData {
  if (!d.dhcp || !o?.lease) return d;
  return { ...d, addresses: [o.lease.address] };
}

/** Drift of the client: not running, or running in a namespace the target no longer has. */
export function dhcpDrift(d: AttachmentData, o: DhcpObserved | null): DriftItem[] {
  if (!d.dhcp || !o) return [];
  if (!o.status.running) return [{ field: 'dhcpClient', desired: 'running', actual: 'stopped' }];
  if (o.status.inTarget === false) return [{ field: 'dhcpClient', desired: 'running', actual: 'in another namespace' }];
  return [];
}

/** The observation's `dhcp` part. */
export function dhcpView(d: AttachmentData, o: DhcpObserved | null): AttachmentObservation['dhcp'] {
  if (!d.dhcp || !o) return undefined;
  return { client: d.dhcp.client, running: o.status.running, pid: o.status.pid, inTarget: o.status.inTarget, lease: o.lease };
}

/**
 * Repair restarts the client when it is gone, in an old namespace, or the leased address is missing inside (the
 * client owns the address: a fresh one asks the server again).
 */
export function dhcpNeedsRestart(d: AttachmentData, o: DhcpObserved | null, drift: readonly DriftItem[]): boolean {
  if (!d.dhcp) return false;
  return dhcpDrift(d, o).length > 0 || drift.some((x) => x.field === 'addresses' || x.field === 'inside');
}
