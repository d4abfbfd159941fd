import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { recoverInterruptedJobs } from '../../src/services.js';
import { newJob } from '../../src/jobs/runner.js';
import { localHost, testApp } from '../helpers/app.js';
import { keyBody, testPrivateKey, testSecretKey } from '../helpers/keys.js';

const TOKEN = 'test-token-0123456789abcdef';

describe('auth and problems', () => {
  it('401 problem without a token, 200 with it; healthz and openapi.json are open', async () => {
    const { app, json } = await testApp({ token: TOKEN });
    const r = await app.request('/hosts');
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    const p = await r.json();
    expect(p).toMatchObject({ type: 'https://netplumb.dev/problems/unauthorized', status: 401 });
    expect((await app.request('/hosts', { headers: { Authorization: 'Bearer wrong-token-xxxxxxxxxxx' } })).status).toBe(401);
    expect((await json('GET', '/hosts')).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/openapi.json')).status).toBe(200);
    const docs = await app.request('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui-bundle.js');
    expect((await app.request('/docs/swagger-ui-bundle.js')).status).toBe(200);
  });

  it('unknown route → 404 problem', async () => {
    const { json } = await testApp();
    const r = await json('GET', '/nope');
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ type: 'https://netplumb.dev/problems/not-found', status: 404 });
  });

  it('unknown host → 404 problem', async () => {
    const { json } = await testApp();
    const r = await json('GET', '/hosts/ghost');
    expect(r.status).toBe(404);
    expect((await r.json()).detail).toContain('ghost');
  });

  it('malformed JSON → 400 problem, no job', async () => {
    const { json, store } = await testApp();
    const r = await json('POST', '/hosts', '{"name": "docker1",');
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect((await r.json()).type).toBe('https://netplumb.dev/problems/malformed-json');
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
  });

  it('a body over 1 MiB → 413 problem', async () => {
    const { json } = await testApp();
    const r = await json('POST', '/hosts', { name: 'docker1', executor: { kind: 'local' }, labels: { big: 'x'.repeat(1024 * 1024 + 10) } });
    expect(r.status).toBe(413);
    expect((await r.json()).type).toBe('https://netplumb.dev/problems/payload-too-large');
  });

  it('422 with JSON pointers for every bad field, and no job, no command', async () => {
    const { json, store, world } = await testApp();
    const r = await json('POST', '/hosts', {
      name: '-bad name',
      executor: { kind: 'ssh', address: 'not an address!', port: 70000, user: 'Root', hostKeySha256: 'MD5:abc', privateKey: 'k' },
    });
    expect(r.status).toBe(422);
    const p = await r.json();
    const pointers = p.errors.map((e: { pointer: string }) => e.pointer).sort();
    expect(pointers).toEqual(['/executor/address', '/executor/hostKeySha256', '/executor/port', '/executor/user', '/name']);
    expect(JSON.stringify(p)).not.toContain('"k"');
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
    expect(world.calls).toHaveLength(0);
  });

  it('422 for a bad query parameter, with its name', async () => {
    const { json } = await testApp();
    const r = await json('GET', '/hosts?limit=0');
    expect(r.status).toBe(422);
    expect((await r.json()).errors[0]).toMatchObject({ in: 'query', pointer: '/limit' });
  });
});

describe('hosts and jobs', () => {
  it('POST /hosts waits for the probe job and answers 201 with facts and job; GET by name and id', async () => {
    const { json, world } = await testApp();
    const r = await json('POST', '/hosts', localHost('docker1', { tunnelIp: '10.10.10.101', labels: { site: 'lab' } }));
    expect(r.status).toBe(201);
    const h = await r.json();
    expect(h.id).toMatch(/^host_/);
    expect(h).toMatchObject({
      name: 'docker1',
      state: 'ready',
      tunnelIp: '10.10.10.101',
      job: { status: 'succeeded', kind: 'host.create' },
    });
    expect(h.facts).toMatchObject({
      reachable: true,
      kernel: '6.1.0-test',
      iproute2: '6.1.0',
      ovs: { version: '3.1.0', datapathTypes: ['netdev', 'system'] },
      docker: { version: '20.10.24+dfsg1' },
      kernelModules: { gre: true, vxlan: true, openvswitch: false },
    });
    expect(world.calls.map((c) => c.argv[0])).toContain('uname');
    expect((await (await json('GET', '/hosts/docker1')).json()).id).toBe(h.id);
    expect((await (await json('GET', `/hosts/${h.id}`)).json()).name).toBe('docker1');
    const list = await (await json('GET', '/hosts?label=site=lab')).json();
    expect(list.items.map((x: { name: string }) => x.name)).toEqual(['docker1']);
    const dup = await json('POST', '/hosts', localHost('docker1'));
    expect(dup.status).toBe(409);
  });

  it('SSH secrets are write-only: never in responses or job logs', async () => {
    const { json } = await testApp({ config: { secretKey: testSecretKey() } });
    const key = testPrivateKey();
    const SECRET = keyBody(key).slice(0, 40);
    const r = await json('POST', '/hosts', {
      name: 'remote',
      executor: { kind: 'ssh', address: '192.0.2.10', hostKeySha256: 'SHA256:' + 'A'.repeat(43), privateKey: key },
    });
    const body = await r.text();
    expect(body).not.toContain(SECRET);
    const h = JSON.parse(body);
    expect(h.executor).toMatchObject({ kind: 'ssh', auth: 'privateKey', port: 22, user: 'root' });
    const logs = await (await json('GET', `/jobs/${h.jobId ?? h.job.id}/logs`)).text();
    expect(logs).not.toContain(SECRET);
    const again = await (await json('GET', '/hosts/remote')).text();
    expect(again).not.toContain(SECRET);
  });

  it('Prefer: respond-async → 202 with Location; GET /jobs/{id} follows it; wait=0 too', async () => {
    const { json, world } = await testApp();
    world.delayMs = 30;
    const r = await json('POST', '/hosts', localHost(), { Prefer: 'respond-async' });
    expect(r.status).toBe(202);
    const { job } = await r.json();
    expect(r.headers.get('location')).toBe(`/jobs/${job.id}`);
    expect(['queued', 'running']).toContain(job.status);
    let j;
    for (let i = 0; i < 100; i++) {
      j = await (await json('GET', r.headers.get('location')!)).json();
      if (j.status === 'succeeded') break;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(j.status).toBe('succeeded');
    expect(j.progress).toBeDefined();
    const r2 = await json('POST', '/hosts', localHost('docker3'), { Prefer: 'wait=0' });
    expect(r2.status).toBe(202);
    const listed = await (await json('GET', '/jobs?kind=host.create')).json();
    expect(listed.items.length).toBeGreaterThanOrEqual(1);
  });

  it('a probe that cannot reach the host fails the job with its problem (502) and jobId', async () => {
    const { json, world } = await testApp();
    const { ExecError } = await import('../../src/exec/errors.js');
    world.on((argv) => {
      if (argv[0] === 'uname') throw new ExecError('host-unreachable', 'cannot reach 192.0.2.1:22: connect ECONNREFUSED');
      return undefined;
    });
    const r = await json('POST', '/hosts', localHost('dead'));
    expect(r.status).toBe(502);
    const p = await r.json();
    expect(p).toMatchObject({ type: 'https://netplumb.dev/problems/host-unreachable', detail: expect.stringContaining('ECONNREFUSED') });
    expect(p.jobId).toMatch(/^job_/);
    const h = await (await json('GET', '/hosts/dead')).json();
    expect(h.facts).toMatchObject({ reachable: false, problem: { type: 'https://netplumb.dev/problems/host-unreachable' } });
  });

  it('jobs on one host run one after the other; jobs on two hosts overlap', async () => {
    const { json, world, deps } = await testApp();
    await json('POST', '/hosts', localHost('a'));
    await json('POST', '/hosts', localHost('b'));
    const spans = { a: [] as [number, number][], b: [] as [number, number][] };
    world.on((argv, host) => {
      if (argv[0] !== 'uname') return undefined;
      const start = Date.now();
      return new Promise((res) =>
        setTimeout(() => {
          spans[host as 'a' | 'b'].push([start, Date.now()]);
          res({ stdout: '6.1\n' });
        }, 60),
      );
    });
    await Promise.all([json('POST', '/hosts/a/probe'), json('POST', '/hosts/a/probe'), json('POST', '/hosts/b/probe')]);
    await deps.runner.drain();
    const [x, y] = spans.a as [[number, number], [number, number]];
    expect(Math.max(x[0], y[0])).toBeGreaterThanOrEqual(Math.min(x[1], y[1]));
    const b = spans.b[0]!;
    const overlapsA = spans.a.some(([s, e]) => s < b[1] && b[0] < e);
    expect(overlapsA).toBe(true);
  });

  it('DELETE /hosts/{name} → 204, then 404', async () => {
    const { json } = await testApp();
    await json('POST', '/hosts', localHost());
    const r = await json('DELETE', '/hosts/docker1');
    expect(r.status).toBe(204);
    expect((await json('GET', '/hosts/docker1')).status).toBe(404);
  });
});

describe('idempotency keys', () => {
  it('same key + same request → stored response replayed, work runs once', async () => {
    const { json, world, store } = await testApp();
    const h = { 'Idempotency-Key': 'k-1' };
    const r1 = await json('POST', '/hosts', localHost(), h);
    const b1 = await r1.text();
    const probes = world.calls.filter((c) => c.argv[0] === 'uname').length;
    // the same body with keys in another order is the same request
    const r2 = await json('POST', '/hosts', { executor: { kind: 'local' }, name: 'docker1' }, h);
    expect(r2.status).toBe(r1.status);
    expect(r2.headers.get('idempotency-replayed')).toBe('true');
    expect(await r2.text()).toBe(b1);
    expect(world.calls.filter((c) => c.argv[0] === 'uname').length).toBe(probes);
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(1);
  });

  it('same key + different request → 422; while the first runs → 409', async () => {
    const { json, world } = await testApp();
    world.delayMs = 40;
    const first = json('POST', '/hosts', localHost('a'), { 'Idempotency-Key': 'k-2', Prefer: 'respond-async' });
    expect((await first).status).toBe(202);
    const busy = await json('POST', '/hosts', localHost('a'), { 'Idempotency-Key': 'k-2' });
    expect(busy.status).toBe(409);
    expect((await busy.json()).type).toBe('https://netplumb.dev/problems/idempotency-in-progress');
    const other = await json('POST', '/hosts', localHost('b'), { 'Idempotency-Key': 'k-2' });
    expect(other.status).toBe(422);
    expect((await other.json()).type).toBe('https://netplumb.dev/problems/idempotency-key-reused');
  });

  it('a key over 255 characters → 422', async () => {
    const { json } = await testApp();
    const r = await json('POST', '/hosts', localHost(), { 'Idempotency-Key': 'x'.repeat(256) });
    expect(r.status).toBe(422);
  });

  it('50 simultaneous identical POSTs with one key → one job, one execution', async () => {
    const { json, world, store, deps } = await testApp();
    world.delayMs = 5;
    const rs: Response[] = await Promise.all(
      Array.from({ length: 50 }, async () => json('POST', '/hosts', localHost('storm'), { 'Idempotency-Key': 'storm-key' })),
    );
    await deps.runner.drain();
    // One answer is the job's own; the others came while it ran (409) or after it (its stored answer, replayed). Over a
    // socket the requests arrive spread out enough for both; in-process they all come while it runs.
    const fresh = rs.filter((r) => r.status === 201 && r.headers.get('idempotency-replayed') === null);
    expect(fresh).toHaveLength(1);
    expect(
      rs.every((r) => r.status === 409 || (r.status === 201 && (r === fresh[0] || r.headers.get('idempotency-replayed') === 'true'))),
    ).toBe(true);
    expect((await store.listJobs({ limit: 100 })).items).toHaveLength(1);
    expect(world.calls.filter((c) => c.argv[0] === 'uname')).toHaveLength(1);
    const after = await json('POST', '/hosts', localHost('storm'), { 'Idempotency-Key': 'storm-key' });
    expect(after.status).toBe(201);
    expect(after.headers.get('idempotency-replayed')).toBe('true');
  });
});

describe('job logs', () => {
  it('JSON pages with nextCursor', async () => {
    const { json } = await testApp();
    const h = await (await json('POST', '/hosts', localHost())).json();
    const all = await (await json('GET', `/jobs/${h.job.id}/logs`)).json();
    expect(all.items.length).toBeGreaterThan(5);
    expect(all.items.some((l: { stream: string; text: string }) => l.stream === 'cmd' && l.text === 'uname -r')).toBe(true);
    const p1 = await (await json('GET', `/jobs/${h.job.id}/logs?limit=2`)).json();
    expect(p1.items.map((l: { seq: number }) => l.seq)).toEqual([1, 2]);
    const p2 = await (await json('GET', `/jobs/${h.job.id}/logs?cursor=${p1.nextCursor}&limit=2`)).json();
    expect(p2.items[0].seq).toBe(3);
    // A line's seq (an SSE event id) still works as `after`; both at once is a mistake.
    const p3 = await (await json('GET', `/jobs/${h.job.id}/logs?after=4&limit=2`)).json();
    expect(p3.items.map((l: { seq: number }) => l.seq)).toEqual([5, 6]);
    const both = await json('GET', `/jobs/${h.job.id}/logs?after=4&cursor=${p1.nextCursor}`);
    expect(both.status).toBe(422);
    expect((await both.json()).errors).toEqual([{ pointer: '/after', in: 'query', detail: 'give `cursor` or `after`, not both' }]);
  });
});

describe('page cursors (issue 27)', () => {
  const invalidCursor = async (r: Response, detail: RegExp) => {
    expect(r.status).toBe(400);
    const p = await r.json();
    expect(p).toMatchObject({ type: 'https://netplumb.dev/problems/invalid-cursor', status: 400 });
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]).toMatchObject({ pointer: '/cursor', in: 'query' });
    expect(p.errors[0].detail).toMatch(detail);
  };

  it("are opaque; a malformed one, or one of another list (or another job's log), is a 400 pointing at cursor", async () => {
    const { json } = await testApp();
    for (const name of ['h1', 'h2', 'h3']) expect((await json('POST', '/hosts', localHost(name))).status).toBe(201);
    const p1 = await (await json('GET', '/hosts?limit=2')).json();
    expect(p1.items.map((h: { name: string }) => h.name)).toEqual(['h1', 'h2']);
    expect(p1.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(p1.nextCursor).not.toContain(p1.items[1].id);
    const p2 = await (await json('GET', `/hosts?limit=2&cursor=${p1.nextCursor}`)).json();
    expect(p2).toMatchObject({ items: [{ name: 'h3' }], nextCursor: null });

    await invalidCursor(await json('GET', '/bridges?cursor=garbage!!'), /not a cursor this service made/);
    await invalidCursor(await json('GET', `/hosts?cursor=${p1.items[1].id}`), /not a cursor this service made/);
    await invalidCursor(await json('GET', `/bridges?cursor=${p1.nextCursor}`), /another list \(host\), not of bridge/);
    await invalidCursor(await json('GET', `/jobs?cursor=${p1.nextCursor}`), /another list/);

    const jobs = (await (await json('GET', '/jobs')).json()).items as { id: string }[];
    const logs = await (await json('GET', `/jobs/${jobs[0]!.id}/logs?limit=1`)).json();
    await invalidCursor(await json('GET', `/jobs/${jobs[1]!.id}/logs?cursor=${logs.nextCursor}`), /another list/);
  });

  it('GET /jobs?after=<job id> pages on from a job one has (how /ui polls for new jobs)', async () => {
    const { json } = await testApp();
    for (const name of ['h1', 'h2', 'h3']) await json('POST', '/hosts', localHost(name));
    const all = (await (await json('GET', '/jobs')).json()).items as { id: string }[];
    const after = await (await json('GET', `/jobs?after=${all[0]!.id}`)).json();
    expect(after.items.map((j: { id: string }) => j.id)).toEqual([all[1]!.id, all[2]!.id]);
    expect((await json('GET', '/jobs?after=nope')).status).toBe(422);
  });

  it('SSE streams a running job live to its end event, resumable with Last-Event-ID', async () => {
    const { json, app, world } = await testApp();
    world.delayMs = 20;
    const { job } = await (await json('POST', '/hosts', localHost(), { Prefer: 'respond-async' })).json();
    const res = await app.request(`/jobs/${job.id}/logs`, { headers: { Accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const events = text.split('\n\n').filter(Boolean);
    const ids = events
      .map((e) => /^id: (\d+)$/m.exec(e)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(ids.length).toBeGreaterThan(5);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const end = events.at(-1)!;
    expect(end).toContain('event: end');
    expect(JSON.parse(/^data: (.*)$/m.exec(end)![1]!).status).toBe('succeeded');
    const resumed = await (
      await app.request(`/jobs/${job.id}/logs`, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(ids[2]) } })
    ).text();
    const rids = resumed
      .split('\n\n')
      .map((e) => /^id: (\d+)$/m.exec(e)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(rids[0]).toBe(ids[3]);
  });
});

describe('restart', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a job left running in the file becomes interrupted at start-up, with a log line saying why', async () => {
    dir = mkdtempSync(join(tmpdir(), 'netplumb-'));
    const path = join(dir, 'np.db');
    const s1 = new SqliteStore(path);
    const job = newJob({ kind: 'bridge.create', resource: { type: 'bridge', id: 'br_x' }, hosts: ['host_x'] });
    job.status = 'running';
    await s1.insertJob(job);
    await s1.close(); // the process "crashed"
    const s2 = new SqliteStore(path);
    expect(await recoverInterruptedJobs(s2)).toEqual([job.id]);
    const j = (await s2.getJob(job.id))!;
    expect(j.status).toBe('interrupted');
    expect(j.error?.type).toBe('https://netplumb.dev/problems/job-interrupted');
    expect((await s2.getLogs(job.id, 0, 10)).at(-1)!.text).toContain('stopped while this job was running');
    await s2.close();
  });
});

describe('job log stream under load', () => {
  it('a client joining a job with a long backlog while it keeps writing gets every line once, in order', async () => {
    const { app, deps, store } = await testApp();
    const job = newJob({ kind: 'test.chatty', resource: { type: 'host', id: 'host_x' }, hosts: ['host_x'] });
    await store.insertJob(job);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    deps.runner.start(job, async (ctx) => {
      for (let i = 0; i < 1500; i++) ctx.log(null, 'info', `line ${i}`);
      await gate;
      for (let i = 1500; i < 1600; i++) {
        ctx.log(null, 'info', `line ${i}`);
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    });
    const res = await app.request(`/jobs/${job.id}/logs`, { headers: { Accept: 'text/event-stream' } });
    // the job writes more only once the client is reading its backlog
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    for (let first = true; ; first = false) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
      if (first) release();
    }
    const seqs = text
      .split('\n\n')
      .map((e) => /^id: (\d+)$/m.exec(e)?.[1])
      .filter(Boolean)
      .map(Number);
    const total = (await store.getLogs(job.id, 0, 10_000)).length;
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(text.trimEnd().split('\n\n').at(-1)).toContain('event: end');
  });
});

describe('restart recovery', () => {
  it('an interrupted create leaves its resource unknown (deletable) and answers its idempotency key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netplumb-'));
    try {
      const path = join(dir, 'np.db');
      const a = await testApp({ dbPath: path });
      expect((await a.json('POST', '/hosts', localHost())).status).toBe(201);
      a.world.delayMs = 200;
      const r = await a.json(
        'POST',
        '/bridges',
        { host: 'docker1', name: 'br1' },
        { 'Idempotency-Key': 'k-restart', Prefer: 'respond-async' },
      );
      expect(r.status).toBe(202);
      // "crash": a second process opens the same file while the job is still running in the first
      const b = await testApp({ dbPath: path });
      expect(await recoverInterruptedJobs(b.store)).toHaveLength(1);
      const again = await b.json('POST', '/bridges', { host: 'docker1', name: 'br1' }, { 'Idempotency-Key': 'k-restart' });
      expect(again.status).toBe(500);
      expect((await again.json()).type).toBe('https://netplumb.dev/problems/job-interrupted');
      const br = await (await b.json('GET', '/bridges/docker1/br1')).json();
      expect(br.state).toBe('unknown');
      expect((await b.json('DELETE', `/bridges/${br.id}`)).status).toBe(204);
      await a.deps.runner.drain();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SSH key paths', () => {
  const body = (privateKeyPath: string) => ({
    name: 'k',
    executor: { kind: 'ssh', address: '192.0.2.1', hostKeySha256: 'SHA256:' + 'A'.repeat(43), privateKeyPath },
  });
  it('must be normalized, and inside NETPLUMB_KEY_DIR when it is set', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'np-keys-'));
    try {
      writeFileSync(join(keyDir, 'docker1'), testPrivateKey(), { mode: 0o600 });
      const { json, world } = await testApp({ config: { keyDir } });
      for (const p of [`${keyDir}/../../shadow`, '/root/.ssh/id_ed25519', keyDir]) {
        const r = await json('POST', '/hosts', body(p));
        expect(r.status, p).toBe(422);
        expect((await r.json()).errors[0].pointer).toBe('/executor/privateKeyPath');
      }
      expect(world.calls).toHaveLength(0);
      expect((await json('POST', '/hosts', body(`${keyDir}/docker1`))).status).not.toBe(422);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});

describe('HTTP semantics (issue 27)', () => {
  it('a 201 says where the resource is (Location), first time and replayed; GET there finds it', async () => {
    const { json } = await testApp();
    const r = await json('POST', '/hosts', localHost('loc1'), { 'Idempotency-Key': 'loc-1' });
    expect(r.status).toBe(201);
    const h = await r.json();
    expect(r.headers.get('location')).toBe(`/hosts/${h.id}`);
    expect((await (await json('GET', r.headers.get('location')!)).json()).name).toBe('loc1');
    const replayed = await json('POST', '/hosts', localHost('loc1'), { 'Idempotency-Key': 'loc-1' });
    expect(replayed.headers.get('idempotency-replayed')).toBe('true');
    expect(replayed.headers.get('location')).toBe(`/hosts/${h.id}`);
    const b = await json('POST', '/bridges', { host: 'loc1', name: 'br0' });
    expect(b.headers.get('location')).toBe(`/bridges/${(await b.json()).id}`);
  });

  it('a path the service has, with a method it does not take → 405 with Allow; a path it does not have → 404', async () => {
    const { json } = await testApp();
    for (const [method, path, allow] of [
      ['PUT', '/hosts', 'GET, HEAD, POST'],
      ['DELETE', '/jobs', 'GET, HEAD'],
      ['PATCH', '/hosts/docker1', 'DELETE, GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['PUT', '/jobs/job_x/logs', 'GET, HEAD'],
    ] as const) {
      const r = await json(method, path);
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(await r.json()).toMatchObject({ type: 'https://netplumb.dev/problems/method-not-allowed', allowed: allow.split(', ') });
    }
    const missing = await json('GET', '/nothing/here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('allow')).toBeNull();
  });

  it('Accept naming nothing the operation answers with → 406 (as JSON); JSON, wildcards, q-values and none are served', async () => {
    const { json } = await testApp();
    const as = (accept: string) => json('GET', '/hosts', undefined, { Accept: accept });
    const xml = await as('application/xml');
    expect(xml.status).toBe(406);
    expect(xml.headers.get('content-type')).toBe('application/problem+json');
    expect(await xml.json()).toMatchObject({ type: 'https://netplumb.dev/problems/not-acceptable', acceptable: ['application/json'] });
    expect((await as('application/json;q=0, text/html')).status).toBe(406);
    for (const ok of ['application/json', '*/*', 'application/*', 'text/html, application/json;q=0.1', 'text/html,*/*;q=0.8'])
      expect((await as(ok)).status, ok).toBe(200);
    expect((await json('GET', '/hosts')).status).toBe(200);
    // The log: JSON or an event stream, by Accept.
    const h = await (await json('POST', '/hosts', localHost('acc1'))).json();
    expect((await json('GET', `/jobs/${h.job.id}/logs`, undefined, { Accept: 'text/plain' })).status).toBe(406);
  });

  it('/healthz and /readyz are in the document, open (no token), and answer as it says', async () => {
    const { app } = await testApp({ token: TOKEN });
    const doc = await (await app.request('/openapi.json')).json();
    for (const path of ['/healthz', '/readyz']) {
      expect(doc.paths[path].get.security, path).toEqual([]);
      expect((await app.request(path)).status, path).toBe(200);
    }
  });
});
