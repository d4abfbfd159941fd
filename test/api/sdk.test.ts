import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, NetplumbError } from '../../sdk/src/index.js';
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
});
