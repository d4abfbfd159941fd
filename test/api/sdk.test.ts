import { serve, type ServerType } from '@hono/node-server';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, etagOf, NetplumbError } from '../../sdk/src/index.js';
import { localHost, testApp } from '../helpers/app.js';

const TOKEN = 'sdk-test-token-0123456789';

describe('SDK against a started server', async () => {
  const t = await testApp({ token: TOKEN });
  let server: ServerType;
  let baseUrl = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('creates a host asynchronously, waits for its job, streams its log', async () => {
    t.world.delayMs = 10;
    const np = createClient({ baseUrl, token: TOKEN });
    const res = await np.api.POST('/hosts', { body: localHost('sdk1') as never, headers: { Prefer: 'respond-async' } });
    expect(res.response.status).toBe(202);
    const jobId = (res.data as unknown as { job: { id: string } }).job.id;
    const lines: string[] = [];
    for await (const l of np.streamJobLogs(jobId)) lines.push(`${l.stream} ${l.text}`);
    expect(lines).toContain('cmd uname -r');
    const job = await np.waitForJob(jobId);
    expect(job.status).toBe('succeeded');
    const host = await np.hosts.get('sdk1');
    expect(host.facts?.reachable).toBe(true);
  });

  it('sends an Idempotency-Key on every mutation and keeps it across its own retries', async () => {
    const seen: string[] = [];
    let failures = 1;
    const np = createClient({
      baseUrl,
      token: TOKEN,
      fetch: async (input, init) => {
        const req = new Request(input, init);
        if (req.method === 'POST') seen.push(req.headers.get('idempotency-key') ?? '');
        if (req.method === 'POST' && failures-- > 0) throw new TypeError('fetch failed (simulated network error)');
        return fetch(req);
      },
    });
    const h = await np.hosts.create(localHost('sdk2') as never);
    expect(h.name).toBe('sdk2');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1]).toBe(seen[0]);
  });

  it('a retry that finds its first attempt still running waits for that job and returns its stored answer', async () => {
    t.world.delayMs = 150; // the job outlives the client's first back-off (200 ms)
    let dropped = false;
    const np = createClient({
      baseUrl,
      token: TOKEN,
      fetch: async (input, init) => {
        const req = new Request(input, init);
        if (req.method === 'POST' && !dropped) {
          dropped = true;
          void fetch(req).catch(() => undefined); // reached the service, which starts the job...
          await new Promise((r) => setTimeout(r, 20));
          throw new TypeError('fetch failed (connection reset)'); // ...but the answer was lost
        }
        return fetch(req);
      },
    });
    const h = await np.hosts.create(localHost('sdk3') as never);
    expect(h).toMatchObject({ name: 'sdk3', state: 'ready' });
    expect((await np.jobs.list({ kind: 'host.create' })).items.filter((j) => j.resource.id === h.id)).toHaveLength(1);
    t.world.delayMs = 0;
  });

  it('throws a typed error carrying the problem', async () => {
    const np = createClient({ baseUrl, token: TOKEN });
    const err = await np.hosts.get('nope').catch((e) => e);
    expect(err).toBeInstanceOf(NetplumbError);
    expect(err.status).toBe(404);
    expect(err.problem.type).toBe('https://netplumb.dev/problems/not-found');
    const bad = await np.hosts.create({ name: '-x', executor: { kind: 'local' } } as never).catch((e) => e);
    expect(bad.status).toBe(422);
    expect(bad.problem.errors[0].pointer).toBe('/name');
  });

  it('a mutation that outlives Prefer: wait resolves with what the job ended with: the resource, its job, a plan', async () => {
    t.world.delayMs = 20;
    t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
    t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
    const answered: string[] = [];
    const np = createClient({
      baseUrl,
      token: TOKEN,
      waitSeconds: 0,
      fetch: async (input, init) => {
        const req = new Request(input, init);
        const res = await fetch(req);
        if (req.method !== 'GET') answered.push(`${req.method} ${res.status} ${res.headers.get('idempotency-replayed') ?? ''}`.trim());
        return res;
      },
    });
    const h = await np.hosts.create({ name: 'async1', executor: { kind: 'local' }, tunnelIp: '10.10.10.111' });
    expect(answered).toEqual(['POST 202', 'POST 201 true']);
    expect(h).toMatchObject({ name: 'async1', state: 'ready', job: { status: 'succeeded', kind: 'host.create' } });
    const topo = await np.topologies.apply('sdk-async', {
      networks: { web: { subnet: '10.11.12.0/24', members: [{ host: 'async1', container: 'web1' }] } },
    });
    expect(topo.job.status).toBe('succeeded');
    expect(topo.plan.changes.length).toBeGreaterThan(0);
    // One job each: the second request after the 202 was answered from the Idempotency-Key.
    expect((await np.jobs.list({ kind: 'topology.create' })).items.filter((j) => j.resource.id === topo.id)).toHaveLength(1);
    expect(await np.topologies.graph('sdk-async', { format: 'mermaid' })).toMatch(/^flowchart /);
    expect(await np.graph.get({ format: 'dot' })).toMatch(/^graph /);
    expect(await np.graph.get()).toMatch(/^<svg /);
    await np.topologies.delete('sdk-async');
    t.world.delayMs = 0;
  });

  it('ETags: every resource keeps the one it came with; ifMatch refuses a change on another version (412), ifNoneMatch creates only', async () => {
    const np = createClient({ baseUrl, token: TOKEN });
    await np.hosts.create(localHost('etag1') as never);
    const created = await np.bridges.create({ host: 'etag1', name: 'br_etag' });
    const read = await np.bridges.get(created.id);
    expect(etagOf(read)).toMatch(/^"br_[a-z0-9]+\.\d+"$/);
    expect(etagOf(read)).toBe(etagOf(created));
    expect(np.etagOf(read)).toBe(etagOf(read));
    const changed = await np.bridges.update(created.id, { mtu: 1400 }, { ifMatch: etagOf(read) });
    expect(changed.mtu).toBe(1400);
    expect(etagOf(changed)).not.toBe(etagOf(read));
    // A second writer that read before that change is refused, and its change is not made.
    const stale = await np.bridges.update(created.id, { mtu: 1300 }, { ifMatch: etagOf(read) }).catch((e) => e);
    expect(stale).toBeInstanceOf(NetplumbError);
    expect(stale.status).toBe(412);
    expect(stale.type).toBe('https://netplumb.dev/problems/precondition-failed');
    expect(stale.problem.etag).toBe(etagOf(changed));
    expect((await np.bridges.get(created.id)).mtu).toBe(1400);
    expect((await np.bridges.delete(created.id, { ifMatch: etagOf(read) }).catch((e) => e)).status).toBe(412);
    await np.bridges.delete(created.id, { ifMatch: etagOf(changed) });

    const doc = { networks: { web: { subnet: '10.11.13.0/24', bridge: { name: 'ovs_etag' }, members: [] } } } as never;
    const topo = await np.topologies.apply('sdk-etag', doc, { ifNoneMatch: '*' });
    expect(etagOf(topo)).toMatch(/^"top_[a-z0-9]+\.\d+"$/);
    expect((await np.topologies.apply('sdk-etag', doc, { ifNoneMatch: '*' }).catch((e) => e)).status).toBe(412);
    await np.topologies.delete('sdk-etag', { ifMatch: etagOf(await np.topologies.get('sdk-etag')) });
  });

  it('typed problems: a conflict names the existing resource; a job failure says so; a busy resource names its job', async () => {
    const np = createClient({ baseUrl, token: TOKEN });
    const host = await np.hosts.create({ name: 'typed1', executor: { kind: 'local' } });
    const br = await np.bridges.create({ host: host.name, name: 'br_typed' });
    const dup = await np.bridges.create({ host: host.name, name: 'br_typed' }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(NetplumbError);
    if (!(dup instanceof NetplumbError) || dup.problem.type !== 'https://netplumb.dev/problems/conflict') throw dup;
    expect(dup.problem.existing).toBe(br.id);
    expect(dup.jobFailed).toBe(false);

    t.world.on((argv) => (argv.includes('add-br') ? { exitCode: 1, stderr: 'ovs-vsctl: boom' } : undefined));
    const failed = await np.bridges.create({ host: host.name, name: 'br_fails' }).catch((e: unknown) => e);
    t.world.responders.shift();
    if (!(failed instanceof NetplumbError) || failed.problem.type !== 'https://netplumb.dev/problems/command-failed') throw failed;
    expect(failed.jobFailed).toBe(true);
    expect(failed.problem).toMatchObject({ jobStatus: 'failed', host: 'typed1', command: 'ovs-vsctl', exitCode: 1 });
  });

  it('no answer at all: a NetplumbError (status 0) with the platform error as its cause, after the retries', async () => {
    // A port nothing listens on any more.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    let calls = 0;
    const np = createClient({
      baseUrl: `http://127.0.0.1:${closed}`,
      retries: 2,
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    const e = await np.hosts.list().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetplumbError);
    if (!(e instanceof NetplumbError)) throw e;
    expect(e).toMatchObject({ status: 0, transport: true, type: 'about:blank' });
    expect(e.problem.detail).toContain('ECONNREFUSED');
    expect(e.cause).toBeInstanceOf(TypeError);
    expect(calls).toBe(3);
  });

  it('429 and 503 are tried again after their Retry-After (bounded); retries: 0 turns it off', async () => {
    const answers: Response[] = [];
    const seen: { at: number; key: string | null }[] = [];
    const fake = (input: RequestInfo | URL, init?: RequestInit) => {
      const req = new Request(input, init);
      seen.push({ at: Date.now(), key: req.headers.get('idempotency-key') });
      return Promise.resolve(answers.shift() ?? fetch(req));
    };
    const busy = (status: number, retryAfter: string) =>
      new Response(JSON.stringify({ type: 'https://netplumb.dev/problems/storage-unavailable', title: 't', status, detail: 'd' }), {
        status,
        headers: { 'Content-Type': 'application/problem+json', 'Retry-After': retryAfter },
      });
    answers.push(busy(503, '1'), new Response('slow down', { status: 429, headers: { 'Retry-After': '0' } }));
    const np = createClient({ baseUrl, token: TOKEN, fetch: fake });
    const h = await np.hosts.create({ name: 'retry1', executor: { kind: 'local' } });
    expect(h.name).toBe('retry1');
    expect(seen).toHaveLength(3);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    expect(new Set(seen.map((s) => s.key)).size).toBe(1); // one Idempotency-Key throughout

    seen.length = 0;
    answers.push(busy(503, '1'));
    const off = createClient({ baseUrl, token: TOKEN, fetch: fake, retries: 0 });
    const e = await off.hosts.list().catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 503, retryAfter: undefined });
    expect(seen).toHaveLength(1);

    // A Retry-After longer than maxRetryAfterSeconds is not waited for: the answer is the caller's.
    seen.length = 0;
    answers.push(busy(503, '120'));
    const e2 = await np.hosts.list().catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(NetplumbError);
    expect(seen).toHaveLength(1);
  });
});
