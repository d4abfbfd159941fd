/**
 * What the benchmarks share: the service as users run it (real SSH executors, in-memory store, served on
 * loopback, driven through the SDK), timing helpers, and the "floor" — the same work typed into the host's own
 * shell through the sandbox. Every figure is a ratio or a difference within one run: the machine is shared.
 */
import { serve, type ServerType } from '@hono/node-server';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createApp } from '../src/app.js';
import { dockerStats } from '../src/docker/client.js';
import type { AppDeps } from '../src/deps.js';
import { createDeps } from '../src/services.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Observability } from '../src/observability/index.js';
import { createClient, NetplumbError, type NetplumbClient } from '../sdk/src/index.js';
import type { Sandbox } from '../test/testbed/sandbox.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export const ms = (x: number): string => `${x.toFixed(1)} ms`;
export const sec = (x: number): string => `${(x / 1000).toFixed(2)} s`;
export const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** The line every benchmark starts with: the machine it ran on. */
export function header(title: string): void {
  console.log(`== ${title}`);
  console.log(
    `cores: ${os.cpus().length}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (shared machine: compare ratios within this run)`,
  );
}

export interface Service {
  deps: AppDeps;
  np: NetplumbClient;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * A fresh service (empty in-memory store, no connections yet) on a loopback port, and the SDK pointed at it. obs: its
 * metrics, logs and traces (default: logs off, spans not exported).
 */
export async function startService(o: { obs?: Observability } = {}): Promise<Service> {
  const store = new SqliteStore(':memory:');
  const deps = await createDeps(
    store,
    { defaultWaitMs: 120_000, idempotencyTtlMs: 3600_000, maxBodyBytes: 1 << 20 },
    undefined,
    undefined,
    o.obs,
  );
  let server: ServerType | undefined;
  await new Promise<void>((resolve) => {
    server = serve({ fetch: createApp(deps).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
  });
  const baseUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  return {
    deps,
    baseUrl,
    np: createClient({ baseUrl, waitSeconds: 120 }),
    async close() {
      await new Promise<void>((r) => server!.close(() => r()));
      // A stalled bench (its watchdog fired) must not wait for its stuck jobs: each wait has a bound, but a long one.
      await Promise.race([deps.runner.drain(), sleep(10_000)]);
      await deps.hosts.closeAll();
      await store.close();
    },
  };
}

/** POST /hosts body for a sandbox host: SSH, pinned host key, tunnelIp = its underlay address (the tests' own). */
export { sshHostBody } from '../test/integration/harness.js';

/** Runs a script in the host's own shell (its namespace, its OVS and Docker): the floor. Throws on failure. */
export async function hostSh(sb: Sandbox, host: string, script: string, timeoutMs = 300_000): Promise<string> {
  const r = await sb.exec(host, ['sh', '-c', script], { timeoutMs });
  if (r.exitCode !== 0) throw new Error(`script on ${host} failed (${r.exitCode}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/**
 * The floor of one attachment, as typed by hand (TESTBED.md, pipework's steps): docker inspect for the pid, the veth
 * with its peer made in the container, address + up + tx offload off inside, the host end on the OVS bridge, up.
 */
export function attachFloorScript(container: string, hostEnd: string, cidr: string, bridge = 'ovs_bridge'): string {
  return [
    `pid=$(docker inspect -f '{{.State.Pid}}' ${container})`,
    `ip link add dev ${hostEnd} type veth peer name eth1 netns $pid`,
    `nsenter -t $pid -n ip addr add ${cidr} dev eth1`,
    `nsenter -t $pid -n ip link set dev eth1 up`,
    `nsenter -t $pid -n ethtool -K eth1 tx off >/dev/null`,
    `ovs-vsctl add-port ${bridge} ${hostEnd}`,
    `ip link set dev ${hostEnd} up`,
  ].join('\n');
}

/** Starts containers `${prefix}0…` (busybox web_server_1, --net=none), a few at a time; returns their pids. */
export async function startContainers(sb: Sandbox, host: string, prefix: string, n: number, parallel = 4): Promise<number[]> {
  const pids: number[] = new Array<number>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      for (let i = next++; i < n; i = next++) pids[i] = await sb.startWeb(host, `${prefix}${i}`, 1);
    }),
  );
  return pids;
}

/** Prints what a failed job said (GET /jobs/{id}/logs), for the report; rethrows. */
export async function explain(np: NetplumbClient, e: unknown): Promise<never> {
  if (e instanceof NetplumbError && e.jobId) {
    console.log(`!! job ${e.jobId} failed: ${e.message}`);
    try {
      const page = await np.jobs.logs(e.jobId, { limit: 500 });
      for (const l of page.items)
        console.log(
          `   [${l.host ?? '-'}] ${l.stream} ${l.text}${l.exitCode !== undefined && l.exitCode !== null ? ` (exit ${l.exitCode})` : ''}`,
        );
    } catch (e2) {
      console.log(`   (logs unavailable: ${(e2 as Error).message})`);
    }
  }
  throw e;
}

/** Lines in a file (0 when missing): how many shells started on a slow-shell host. */
export async function countLines(path: string): Promise<number> {
  const t = await fs.readFile(path, 'utf8').catch(() => '');
  return t.split('\n').filter(Boolean).length;
}

export interface AttachVsFloor {
  api: number[];
  floor: number[];
  /** Jobs of the API attaches, for their logs. */
  jobIds: string[];
}

/**
 * n attaches through the API (SDK, one at a time) interleaved with n floors, on containers `${c}0…${c}${2n}` of a
 * host that has an OVS bridge `ovs_bridge`. The last container is a warm-up attach (SSH connection, Docker
 * stream), untimed, unless warmUp is false (the caller did it). API addresses 10.11.12.10+i, floor addresses 10.11.12.100+i.
 */
export async function attachVsFloor(
  sb: Sandbox,
  np: NetplumbClient,
  host: string,
  c: string,
  n: number,
  o: { warmUp?: boolean } = {},
): Promise<AttachVsFloor> {
  const bridge = `${host}/ovs_bridge`;
  if (o.warmUp !== false)
    await np.attachments
      .create({ bridge, target: { container: `${c}${2 * n}` }, addresses: ['10.11.13.250/24'] })
      .catch((e) => explain(np, e));
  const out: AttachVsFloor = { api: [], floor: [], jobIds: [] };
  for (let i = 0; i < n; i++) {
    out.api.push(
      await time(async () => {
        const a = await np.attachments
          .create({ bridge, target: { container: `${c}${i}` }, addresses: [`10.11.12.${10 + i}/24`] })
          .catch((e) => explain(np, e));
        if (a.job?.id) out.jobIds.push(a.job.id);
      }),
    );
    out.floor.push(
      await time(() => hostSh(sb, host, 'set -e\n' + attachFloorScript(`${c}${n + i}`, `vfloor${i}`, `10.11.12.${100 + i}/24`))),
    );
  }
  return out;
}

/** Sum of the host-side step times a job log reports (ms of each command as run), and the number of commands. */
export async function jobStepTime(np: NetplumbClient, jobId: string): Promise<{ ms: number; commands: number }> {
  const page = await np.jobs.logs(jobId, { limit: 500 });
  const timed = page.items.filter((l) => typeof l.ms === 'number');
  return { ms: timed.reduce((a, l) => a + (l.ms ?? 0), 0), commands: page.items.filter((l) => l.stream === 'cmd').length };
}

/** A job's log as a timeline: "+ms what" for each command and info line, offsets from the job's first line. */
export async function jobTimeline(np: NetplumbClient, jobId: string): Promise<string[]> {
  const page = await np.jobs.logs(jobId, { limit: 500 });
  const t0 = page.items.length ? Date.parse(page.items[0]!.ts) : 0;
  return page.items
    .filter((l) => l.stream === 'cmd' || (l.stream === 'info' && !/^exit \d+$/.test(l.text)))
    .map((l) => `+${String(Date.parse(l.ts) - t0).padStart(4)} ms ${l.stream === 'cmd' ? '$ ' : ''}${l.text.split('\n')[0]!.slice(0, 90)}`);
}

/** CPU time (ms) the whole machine spent busy, from /proc/stat (ticks of 10 ms). */
async function machineBusyMs(): Promise<number> {
  const line = (await fs.readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) * 10;
}

/** CPU time (ms) a process has used, from /proc/PID/stat (utime + stime); 0 when it is gone. */
async function processCpuMs(pid: number): Promise<number> {
  const t = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return f.length > 12 ? (Number(f[11]) + Number(f[12])) * 10 : 0;
}

export interface CpuShare {
  wallMs: number;
  /** Cores' worth of CPU the machine was busy (out of os.cpus().length). */
  machine: number;
  /** Cores' worth used by this process (the service and the SDK client). */
  self: number;
  /** Cores' worth used by each watched process. */
  watched: Record<string, number>;
}

/** Starts measuring who used the CPU; the returned function stops and reports. */
export async function cpuMeter(watch: Record<string, number> = {}): Promise<() => Promise<CpuShare>> {
  const t0 = performance.now();
  const m0 = await machineBusyMs();
  const s0 = process.cpuUsage();
  const w0 = Object.fromEntries(await Promise.all(Object.entries(watch).map(async ([k, pid]) => [k, await processCpuMs(pid)] as const)));
  return async () => {
    const wall = performance.now() - t0;
    const s = process.cpuUsage(s0);
    const watched: Record<string, number> = {};
    for (const [k, pid] of Object.entries(watch)) watched[k] = ((await processCpuMs(pid)) - w0[k]!) / wall;
    return { wallMs: wall, machine: ((await machineBusyMs()) - m0) / wall, self: (s.user + s.system) / 1000 / wall, watched };
  };
}

export const cores = (x: number): string => `${x.toFixed(2)} cores`;

/** The pid of a sandbox host's ovs-vswitchd (from its pid file). */
export async function vswitchdPid(sb: Sandbox, host: string): Promise<number> {
  return Number((await fs.readFile(path.join(sb.host(host).ovsRundir, 'ovs-vswitchd.pid'), 'utf8')).trim());
}

/**
 * A bench that stalls says where and stops instead of hanging: `guard(p)` rejects when no `progress()` was reported for
 * quietMs, after printing every unfinished job with what it waits for (GET /jobs/{id} `waiting`) and each host's
 * channels, shell sessions and Docker streams. The bench's own `finally` then tears its sandbox down; the caller sets
 * a non-zero exit.
 */
export function watchdog(svc: Service, quietMs = Number(process.env.BENCH_STALL_S ?? 60) * 1000) {
  let last = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let fire: ((e: Error) => void) | undefined;
  const stalled = new Promise<never>((_, reject) => (fire = reject));
  stalled.catch(() => {});
  const check = async () => {
    if (performance.now() - last < quietMs) return void (timer = setTimeout(() => void check(), 1000));
    console.log(`!! watchdog: nothing finished for ${sec(quietMs)}; what is waiting:`);
    console.log(await describeStall(svc));
    fire!(new Error(`stalled: nothing finished for ${sec(quietMs)} (state printed above)`));
  };
  timer = setTimeout(() => void check(), 1000);
  return {
    progress: () => void (last = performance.now()),
    guard: <T>(p: Promise<T>): Promise<T> => Promise.race([p, stalled]),
    stop: () => clearTimeout(timer),
  };
}

/** Unfinished jobs with their waits, and each host's connection numbers. */
export async function describeStall(svc: Service): Promise<string> {
  const lines: string[] = [];
  for (const status of ['running', 'queued'] as const) {
    const page = await svc.np.jobs.list({ status, limit: 200 });
    lines.push(`  ${page.items.length} ${status} job(s)`);
    for (const j of page.items.slice(0, 20)) {
      const waits = (j.waiting ?? []).map((w) => `${w.kind}: ${w.detail} since ${w.since}`).join(' | ') || 'nothing shown';
      lines.push(`    ${j.id} ${j.kind} ${j.progress.done}/${j.progress.total}: ${waits}`);
    }
  }
  for (const c of svc.deps.hosts.connectionStats?.() ?? []) {
    const numbers = { ...c.stats, ...(c.docker ? dockerStats(c.docker) : {}) };
    lines.push(
      `  host ${c.host}: ${Object.entries(numbers)
        .map(([k, v]) => `${k}=${Number(v)}`)
        .join(' ')}`,
    );
  }
  return lines.join('\n');
}
