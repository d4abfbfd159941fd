/**
 * Three service replicas (child processes, `tsx src/server.ts`) on one PostgreSQL, driving real sandbox hosts over
 * SSH: per-host jobs never overlap whichever replica runs them, one Idempotency-Key makes one job across replicas,
 * a replica killed mid-job has its job interrupted by another within the lease time (resource deletable, nothing
 * left on the host), and SSE on one replica follows a job running on another, every line in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { down, up, type Sandbox } from '../testbed/sandbox.js';
import { sshHostBody } from './harness.js';
import { createDatabase, dropDatabase } from '../helpers/pg-cluster.js';
import { PG_MIGRATIONS } from '../../src/store/pg-schema.js';
import { startReplica, type Replica } from '../helpers/replica-procs.js';

const PREFIX = 'p15';
const LEASE_S = 4;
const SLOW_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sb: Sandbox;
let dbUrl: string;
let db: pg.Client;
let replicas: Replica[] = [];

const call = (r: Replica, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(r.url + path, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const sh = (host: string, argv: string[]) => sb.exec(host, argv);

interface Job {
  id: string;
  status: string;
  hosts: string[];
  startedAt: string | null;
  finishedAt: string | null;
  resource: { id: string };
}

async function allJobs(r: Replica, kind: string): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | null = null;
  do {
    const res = await call(r, 'GET', `/jobs?kind=${kind}&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    const page = (await res.json()) as { items: Job[]; nextCursor: string | null };
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function waitJob(r: Replica, id: string, until: (j: Job) => boolean, ms: number): Promise<Job> {
  const t = Date.now();
  for (;;) {
    const j = (await (await call(r, 'GET', `/jobs/${id}`)).json()) as Job;
    if (until(j) || Date.now() - t > ms) return j;
    await sleep(100);
  }
}

beforeAll(async () => {
  await down(PREFIX).catch(() => undefined);
  sb = await up({
    prefix: PREFIX,
    withDocker: false,
    hosts: [
      { name: 'h1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
      { name: 'h2', underlayCidr: '192.168.50.101/24', underlayGw: '192.168.50.1' },
      { name: 'slow', underlayCidr: '10.10.10.102/24', underlayGw: '10.10.10.1', slowShellMs: SLOW_MS },
    ],
  });
  dbUrl = await createDatabase(process.env.NETPLUMB_TEST_PG_URL!, PREFIX);
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  // The reconcile loop off: these drills are about leases (the loop would resolve the interrupted record itself).
  const env = { NETPLUMB_DB: dbUrl, NETPLUMB_LEASE_S: String(LEASE_S), NETPLUMB_DEFAULT_WAIT_S: '120', NETPLUMB_RECONCILE: 'off' };
  // All three at once on an empty database: the migrations run once, under their advisory lock.
  replicas = await Promise.all(['r1', 'r2', 'r3'].map((id) => startReplica(id, env)));
  for (const name of ['h1', 'h2', 'slow']) {
    const res = await call(replicas[0]!, 'POST', '/hosts', sshHostBody(sb, name));
    expect(res.status, await res.clone().text()).toBe(201);
  }
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await db?.end();
  if (dbUrl) await dropDatabase(dbUrl);
  await sb?.down();
});

describe('three replicas on one PostgreSQL', () => {
  it('migrated the empty database once although the three started together', async () => {
    const r = await db.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(r.rows.map((x: { version: number }) => x.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
  });

  it('60 concurrent creates over the replicas on two hosts: per-host jobs never overlap, every bridge exists once', async () => {
    const n = 60;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        call(replicas[i % 3]!, 'POST', '/bridges', { host: i % 2 ? 'h2' : 'h1', name: `pb${i}`, type: 'linux' }),
      ),
    );
    const bodies = await Promise.all(results.map(async (r) => ({ status: r.status, body: (await r.json()) as { id: string } })));
    expect(bodies.filter((b) => b.status !== 201)).toEqual([]);

    const jobs = (await allJobs(replicas[1]!, 'bridge.create')).filter((j) => bodies.some((b) => b.body.id === j.resource.id));
    expect(jobs).toHaveLength(n);
    const owners = await db.query('SELECT job_id, owner FROM job_leases WHERE job_id = ANY($1)', [jobs.map((j) => j.id)]);
    for (const host of new Set(jobs.flatMap((j) => j.hosts))) {
      const onHost = jobs.filter((j) => j.hosts.includes(host)).sort((a, b) => a.startedAt!.localeCompare(b.startedAt!));
      expect(onHost).toHaveLength(n / 2);
      // Run by several replicas: the exclusion below is across processes, not only inside one.
      const ran = new Set(
        owners.rows.filter((o: { job_id: string }) => onHost.some((j) => j.id === o.job_id)).map((o: { owner: string }) => o.owner),
      );
      expect(ran.size).toBe(3);
      for (let i = 1; i < onHost.length; i++) {
        expect(onHost[i]!.startedAt! >= onHost[i - 1]!.finishedAt!, `${onHost[i - 1]!.id} and ${onHost[i]!.id} overlap on ${host}`).toBe(
          true,
        );
      }
    }
    for (const [host, parity] of [
      ['h1', 0],
      ['h2', 1],
    ] as const) {
      const links = JSON.parse((await sh(host, ['ip', '-j', 'link', 'show', 'type', 'bridge'])).stdout) as { ifname: string }[];
      const names = links.map((l) => l.ifname).filter((x) => /^pb\d+$/.test(x));
      const want = Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % 2 === parity)
        .map((i) => `pb${i}`);
      expect(names.sort()).toEqual(want.sort());
      const listed = (await (await call(replicas[2]!, 'GET', `/bridges?host=${host}&limit=200`)).json()) as { items: { name: string }[] };
      expect(
        listed.items
          .map((b) => b.name)
          .filter((x) => /^pb\d+$/.test(x))
          .sort(),
      ).toEqual(want.sort());
    }
  });

  it('the same Idempotency-Key sent to all three at once makes one job; later sends replay it', async () => {
    const body = { host: 'h1', name: 'idem1', type: 'linux' };
    const headers = { 'Idempotency-Key': 'p15-key-1' };
    const first = await Promise.all(replicas.map((r) => call(r, 'POST', '/bridges', body, headers)));
    const statuses = first.map((r) => r.status);
    // One wins (201 once its job is done); the others either see it running (409) or replay its answer (201).
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const jobs = await allJobs(replicas[0]!, 'bridge.create');
    const bridge = (await (await call(replicas[0]!, 'GET', '/bridges?host=h1&limit=200')).json()) as {
      items: { id: string; name: string }[];
    };
    const idem = bridge.items.filter((b) => b.name === 'idem1');
    expect(idem).toHaveLength(1);
    expect(jobs.filter((j) => j.resource.id === idem[0]!.id)).toHaveLength(1);
    const again = await Promise.all(replicas.map((r) => call(r, 'POST', '/bridges', body, headers)));
    for (const r of again) {
      expect(r.status).toBe(201);
      expect(r.headers.get('idempotency-replayed')).toBe('true');
      expect(((await r.json()) as { id: string }).id).toBe(idem[0]!.id);
    }
    const links = JSON.parse((await sh('h1', ['ip', '-j', 'link', 'show', 'type', 'bridge'])).stdout) as { ifname: string }[];
    expect(links.filter((l) => l.ifname === 'idem1')).toHaveLength(1);
  });

  it('SSE on one replica follows a job running on another, live, every line in order', async () => {
    // r2 has no connection to the slow host yet: its job's first batch waits for the host's slow shell (5 s).
    const [runner, watcher] = [replicas[1]!, replicas[0]!];
    const res = await call(runner, 'POST', '/bridges', { host: 'slow', name: 'ssebr', type: 'linux' }, { Prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: Job };
    const stream = await fetch(`${watcher.url}/jobs/${job.id}/logs`, { headers: { Accept: 'text/event-stream' } });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events: { event: string; data: string; at: number }[] = [];
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (let done = false; !done;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buf += chunk.value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data !== undefined) events.push({ event, data, at: Date.now() });
        if (event === 'end') done = true;
      }
    }
    await reader.cancel().catch(() => {});
    const end = events.at(-1)!;
    expect(end.event).toBe('end');
    const finished = JSON.parse(end.data) as Job;
    expect(finished.status).toBe('succeeded');
    const streamed = events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data) as { seq: number; text: string });
    const stored = (await (await call(runner, 'GET', `/jobs/${job.id}/logs?limit=1000`)).json()) as {
      items: { seq: number; text: string }[];
    };
    expect(streamed).toEqual(stored.items);
    expect(streamed.map((l) => l.seq)).toEqual(stored.items.map((_, i) => i + 1));
    // Live: the first line reached the other replica's stream well before the job finished (its shell takes 5 s).
    expect(events[0]!.at).toBeLessThan(Date.parse(finished.finishedAt!) - 1000);
  });

  it('kill -9 of the replica running a slowed job: another marks it interrupted within the lease time; the delete leaves nothing', async () => {
    const victim = replicas[2]!;
    const other = replicas[0]!;
    const res = await call(victim, 'POST', '/bridges', { host: 'slow', name: 'killbr', type: 'linux' }, { Prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: Job };
    // r3 has no connection to the slow host yet: its commands wait for the host's slow shell start (5 s). Running
    // (it holds the slow host's lock), its first batch sent:
    const running = await waitJob(other, job.id, (j) => j.status === 'running', 10_000);
    expect(running.status).toBe('running');
    await sleep(1000);
    victim.kill9();
    const killedAt = Date.now();
    const closed = await waitJob(other, job.id, (j) => j.status === 'interrupted', 30_000);
    const tookMs = Date.now() - killedAt;
    expect(closed.status).toBe('interrupted');
    console.log(`replicas: the job of the killed replica was interrupted ${tookMs} ms after kill -9 (lease ${LEASE_S} s)`);
    // The lease (4 s) runs out at most 4 s after the last heartbeat; a replica looks every second. Machine noise: +3 s.
    expect(tookMs).toBeLessThan(LEASE_S * 1000 + 1000 + 3000);
    const logs = (await (await call(other, 'GET', `/jobs/${job.id}/logs?limit=1000`)).json()) as {
      items: { text: string; stream: string }[];
    };
    const last = logs.items.at(-1)!;
    expect(last.stream).toBe('error');
    expect(last.text).toMatch(/replica r3 stopped renewing this job's lease .*; replica r[12] marked it interrupted at \d{4}-/);
    // Started once, never re-run.
    expect(logs.items.filter((l) => / started$/.test(l.text))).toHaveLength(1);
    const lease = await db.query('SELECT owner, attempt FROM job_leases WHERE job_id = $1', [job.id]);
    expect(lease.rows[0].attempt).toBe(2);

    const bridge = (await (await call(other, 'GET', `/bridges/${running.resource.id}`)).json()) as { state: string };
    // What the host has is not known (the loop, were it on, would observe it and finish or undo): unknown, deletable.
    expect(bridge.state).toBe('unknown');
    const del = await call(other, 'DELETE', `/bridges/${running.resource.id}`);
    expect(del.status, await del.clone().text()).toBe(204);
    expect((await call(other, 'GET', `/bridges/${running.resource.id}`)).status).toBe(404);
    // Nothing left on the host: no link of that name, nothing carrying the resource's mark.
    expect((await sh('slow', ['ip', 'link', 'show', 'dev', 'killbr'])).exitCode).not.toBe(0);
    expect((await sh('slow', ['ip', '-o', 'link', 'show'])).stdout).not.toContain(running.resource.id);
  });
});
