/**
 * Batched plans on a real host over SSH: the real attachment plan logs, batched, line for line what its steps log
 * run one by one; and a failure injected at step k of n (first, middle, last) leaves the host exactly as before
 * (links, OVS ports, addresses on the host and in the target).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newJob, type JobContext } from '../../src/jobs/runner.js';
import { logStep, type PlanHosts } from '../../src/jobs/plan-runner.js';
import { VETH_STATIC, type AttachmentData } from '../../src/model/attachments.js';
import { attachPlan, detachPlan } from '../../src/ops/attachments.js';
import type { Plan } from '../../src/ops/plan.js';
import { hostExecutor } from '../../src/services.js';
import { startWorld, type World } from './harness.js';

const NETNS = 'npplan1';
let w: World;
let hostId = '';
let data: AttachmentData;

beforeAll(async () => {
  w = await startWorld('pl1', [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }], { withDocker: false });
  await w.registerHosts();
  const br = await w.np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  hostId = br.host;
  expect((await w.ssh('docker1', ['ip', 'netns', 'add', NETNS])).exitCode).toBe(0);
  data = {
    bridgeId: br.id,
    bridgeName: 'ovs_bridge',
    bridgeType: 'ovs',
    datapathType: 'netdev',
    hostId,
    hostName: 'docker1',
    target: { netns: NETNS },
    resolved: null,
    ifname: null,
    hostIfname: 'npplantest0001',
    addresses: ['10.11.12.160/24', 'fd00:11:12::160/64'],
    gateway: '10.11.12.1',
    routes: [{ to: '10.99.0.0/16', via: '10.11.12.1' }],
    mac: null,
    mtu: 1400,
    vlan: null,
    txChecksumOffloadOff: false,
    labels: {},
    container: null,
    assignedMac: null,
    ...VETH_STATIC,
  };
}, 180_000);

afterAll(async () => {
  await w?.ssh('docker1', ['ip', 'netns', 'del', NETNS]).catch(() => undefined);
  await w?.close();
});

const plan = (): Plan => attachPlan({ id: 'att_plantest', d: data, ifname: 'eth1', nsPath: `/run/netns/${NETNS}`, nsRef: NETNS });

/** Runs work as a job through the real runner; resolves with the job and its log. */
async function asJob(work: (ctx: JobContext) => Promise<void>) {
  const job = newJob({ kind: 'test.plan', resource: { type: 'host', id: hostId }, hosts: [hostId] });
  await w.deps.store.insertJob(job);
  w.deps.runner.start(job, work);
  const done = await w.deps.runner.wait(job.id, 60_000);
  const lines = (await w.deps.store.getLogs(job.id, 0, 10_000)).map((l) => ({
    host: l.host,
    stream: l.stream,
    text: l.text,
    exitCode: l.exitCode,
  }));
  return { done, lines };
}

/** Everything the plan could touch, as text. */
async function listing(): Promise<string> {
  const run = async (argv: string[]) => (await w.ssh('docker1', argv)).stdout.trim();
  return [
    await run(['ip', '-o', 'link', 'show']).then((s) =>
      s
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0])
        .sort()
        .join(' '),
    ),
    await run(['ovs-vsctl', 'list-ports', 'ovs_bridge']),
    await run(['ip', '-o', 'addr', 'show']).then((s) =>
      s
        .split('\n')
        .map((l) => l.split(/\s+/).slice(1, 4).join(' '))
        .sort()
        .join('; '),
    ),
    await run(['ip', 'netns', 'exec', NETNS, 'ip', '-o', 'link', 'show']).then((s) =>
      s
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0])
        .sort()
        .join(' '),
    ),
    await run(['ip', 'netns', 'exec', NETNS, 'ip', 'route', 'show']),
  ].join('\n');
}

describe('batched plans on a real host', () => {
  it('the attachment plan logs, batched, line for line what its steps log run one by one', async () => {
    const before = await listing();
    const batched = await asJob((ctx) => ctx.runPlan(plan()));
    expect(batched.done.status).toBe('succeeded');
    expect((await w.ssh('docker1', ['ip', 'netns', 'exec', NETNS, 'ping', '-c', '1', '-W', '2', '10.11.12.1'])).exitCode).toBe(0);
    await asJob((ctx) => ctx.runPlan(detachPlan(data, true)));
    expect(await listing()).toBe(before);

    const ex = await hostExecutor(w.deps, 'docker1');
    const alone = await asJob(async (ctx) => {
      const hosts: PlanHosts = { executor: () => ex, hostName: () => 'docker1', log: (...a) => ctx.log(...a), completed: () => {} };
      for (const s of plan().steps) {
        const r = await ex.run(s.argv, s.stdin !== undefined ? { stdin: s.stdin } : {});
        logStep(hosts, s.host, s.argv, r, s.stdin);
        expect(r.exitCode).toBe(0);
      }
    });
    await asJob((ctx) => ctx.runPlan(detachPlan(data, true)));
    const steps = (l: { stream: string; text: string }[]) =>
      l.filter((x) => !(x.stream === 'info' && / (started|succeeded)$/.test(x.text)));
    expect(steps(batched.lines)).toEqual(steps(alone.lines));
    expect(batched.lines.filter((l) => l.stream === 'cmd').length).toBe(plan().steps.length);
  });

  for (const where of ['first', 'middle', 'last'] as const) {
    it(`a failure injected at the ${where} step leaves the host exactly as before`, async () => {
      const before = await listing();
      const steps = plan().steps;
      const k = where === 'first' ? 0 : where === 'middle' ? Math.floor(steps.length / 2) : steps.length - 1;
      const injected: Plan = {
        steps: steps.map((s, i) =>
          i === k
            ? { host: s.host, description: `${s.description} (injected failure)`, argv: ['sh', '-c', 'echo injected >&2; exit 3'] }
            : s,
        ),
      };
      const r = await asJob((ctx) => ctx.runPlan(injected));
      expect(r.done.status).toBe('failed');
      expect(r.done.error?.detail).toContain('(injected failure) failed on docker1 (exit 3): injected');
      if (k > 0) expect(r.lines.some((l) => l.text.startsWith('undoing '))).toBe(true);
      expect(await listing()).toBe(before);
      console.log(`[plans] failure at step ${k + 1} of ${steps.length}: host as before`);
    });
  }
});
