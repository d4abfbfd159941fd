/** Host jobs: the probe that collects facts. */
import { dockerVersion } from '../docker/index.js';
import type { HostFacts } from '../model/hosts.js';
import {
  KERNEL_MODULES,
  moduleProbe,
  parseIproute2,
  parseOvsList,
  parseOvsVersion,
  parseTrafficControl,
  probeCommands,
  trafficControlProbe,
  linkTypesProbe,
  parseLinkTypes,
  dhcpClientsProbe,
  parseDhcpClients,
} from '../ops/probe.js';
import type { JobContext } from './runner.js';
import type { BatchStepResult } from '../exec/batch.js';
import { toProblem } from './runner.js';
import { ProblemError } from '../model/problems.js';
import { readResource, saveResource } from './records.js';

export async function probeHost(ctx: JobContext, hostId: string): Promise<HostFacts> {
  const { name } = ctx.host(hostId);
  const probedAt = new Date().toISOString();
  try {
    // One batch: one round trip (and one login shell) for every probe command.
    const modules: Record<string, readonly string[]> = Object.fromEntries(KERNEL_MODULES.map((m) => [`module:${m}`, moduleProbe(m)]));
    const r: Record<string, BatchStepResult> = await ctx.read(hostId, {
      ...probeCommands,
      ...modules,
      trafficControl: trafficControlProbe,
      linkTypes: linkTypesProbe,
      dhcpClients: dhcpClientsProbe,
    });
    const [kernel, ipv, ovsv, dpt, eth] = (['kernel', 'iproute2', 'ovsVersion', 'datapathTypes', 'ethtool'] as const).map((k) => r[k]!) as [
      BatchStepResult,
      BatchStepResult,
      BatchStepResult,
      BatchStepResult,
      BatchStepResult,
    ];
    const mods = KERNEL_MODULES.map((m) => r[`module:${m}`]!);
    let docker: HostFacts['docker'] = null;
    try {
      docker = { version: await dockerVersion(ctx.docker(hostId)) };
    } catch (e) {
      ctx.log(name, 'info', `docker not reachable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    const ovsVersion = ovsv.exitCode === 0 ? parseOvsVersion(ovsv.stdout) : undefined;
    const facts: HostFacts = {
      probedAt,
      reachable: true,
      kernel: kernel.stdout.trim(),
      ovs: ovsVersion ? { version: ovsVersion, datapathTypes: dpt.exitCode === 0 ? parseOvsList(dpt.stdout) : [] } : null,
      docker,
      ethtool: eth.exitCode === 0,
      kernelModules: { gre: mods[0]!.exitCode === 0, vxlan: mods[1]!.exitCode === 0, openvswitch: mods[2]!.exitCode === 0 },
      trafficControl: parseTrafficControl(r['trafficControl']!.exitCode, r['trafficControl']!.stdout),
      linkTypes: parseLinkTypes(r['linkTypes']!.exitCode, r['linkTypes']!.stdout),
      dhcpClients: parseDhcpClients(r['dhcpClients']!.exitCode, r['dhcpClients']!.stdout),
    };
    const bootId = r.bootId?.exitCode === 0 ? r.bootId.stdout.trim() : '';
    if (bootId) facts.bootId = bootId;
    const ipr = parseIproute2(ipv.stdout + ipv.stderr);
    if (ipr) facts.iproute2 = ipr;
    ctx.log(
      name,
      'info',
      `facts: kernel ${facts.kernel}, OVS ${facts.ovs?.version ?? 'absent'} [${facts.ovs?.datapathTypes.join(', ') ?? ''}], docker ${facts.docker?.version ?? 'absent'}, traffic control ${flagsSummary(facts.trafficControl)}, device types ${flagsSummary(facts.linkTypes)}, DHCP clients [${facts.dhcpClients?.join(', ') ?? 'unknown'}]`,
    );
    return facts;
  } catch (e) {
    const p = toProblem(e, ctx.job.id);
    return { probedAt, reachable: false, problem: p };
  }
}

/** Runs the probe and stores the facts; an unreachable host fails the job with the problem. */
export async function probeAndRecord(ctx: JobContext, hostId: string): Promise<void> {
  const facts = await probeHost(ctx, hostId);
  const host = await readResource(ctx.store, 'host', hostId);
  if (!host) return;
  // The service log says when a host changes sides (a first probe included), not at every probe.
  if (host.data.facts?.reachable !== facts.reachable) {
    if (facts.reachable) ctx.logger.info({ host: host.data.name }, 'host reachable');
    else ctx.logger.warn({ host: host.data.name, problem: facts.problem?.type, detail: facts.problem?.detail }, 'host unreachable');
  }
  await saveResource(ctx.store, host, { data: { ...host.data, facts }, state: facts.reachable ? 'ready' : 'failed' });
  if (!facts.reachable && facts.problem) throw ProblemError.from(facts.problem);
}

/** `[have…], lacks [lack…]` of a probe's yes/no facts (null: the probe could not tell). */
function flagsSummary(flags: Record<string, boolean> | null | undefined): string {
  if (!flags) return 'unknown (could not try it in a throwaway namespace)';
  const have = Object.keys(flags).filter((k) => flags[k]);
  const lack = Object.keys(flags).filter((k) => !flags[k]);
  return `[${have.join(', ')}]${lack.length ? `, lacks [${lack.join(', ')}]` : ''}`;
}
