/**
 * Rate limits per principal (token buckets): 429 after the configured burst, with `Retry-After` and the IETF httpapi
 * draft's RateLimit-Policy / RateLimit headers; each principal has its own bucket; the SDK waits `Retry-After` and
 * tries again (a bounded number of times).
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, NetplumbError } from '../../sdk/src/index.js';
import { testApp } from '../helpers/app.js';
import { TokenBuckets } from '../../src/api/rate-limit.js';

const TOKEN = 'rate-limit-token-0123456789';

describe('rate limits', async () => {
  const t = await testApp({ token: TOKEN, config: { rateLimit: { burst: 3, perSecond: 1 } } });
  let server: ServerType;
  let baseUrl = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('answers 429 after the burst, with Retry-After and RateLimit headers; another principal has its own bucket', async () => {
    const other = (await (await t.json('POST', '/tokens', { name: 'other', scopes: ['read'] })).json()) as { token: string };
    // That was one request of the bootstrap token's three; two more pass, the fourth is refused.
    expect((await t.json('GET', '/hosts')).status).toBe(200);
    expect((await t.json('GET', '/hosts')).status).toBe(200);
    const r = await t.json('GET', '/hosts');
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.headers.get('ratelimit-policy')).toBe('"per-principal";q=3;w=3');
    expect(r.headers.get('ratelimit')).toMatch(/^"per-principal";r=0;t=3$/);
    const p = (await r.json()) as { type: string; retryAfter: number; detail: string };
    expect(p.type).toMatch(/\/rate-limited$/);
    expect(p.retryAfter).toBe(1);
    expect((await t.json('GET', '/hosts', undefined, { Authorization: `Bearer ${other.token}` })).status).toBe(200);
    await new Promise((res) => setTimeout(res, 1100));
    expect((await t.json('GET', '/hosts')).status).toBe(200);
  });

  it("the SDK waits the answer's Retry-After and tries again; with retries: 0 it returns the 429", async () => {
    const statuses: number[] = [];
    const seen = { at: [] as number[] };
    const np = createClient({
      baseUrl,
      token: TOKEN,
      fetch: async (input, init) => {
        const res = await fetch(new Request(input, init));
        statuses.push(res.status);
        seen.at.push(performance.now());
        return res;
      },
    });
    await new Promise((res) => setTimeout(res, 3100)); // a full bucket
    for (let i = 0; i < 3; i++) await np.hosts.list();
    const started = performance.now();
    await np.hosts.list();
    const waited = performance.now() - started;
    expect(statuses).toEqual([200, 200, 200, 429, 200]);
    // It waited Retry-After (1 s) between the 429 and the next try.
    expect(seen.at[4]! - seen.at[3]!).toBeGreaterThanOrEqual(950);
    expect(waited).toBeGreaterThanOrEqual(950);

    const once = createClient({ baseUrl, token: TOKEN, retries: 0 });
    const err = await once.hosts.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetplumbError);
    expect((err as NetplumbError).status).toBe(429);
    expect((err as NetplumbError).retryAfter).toBe(1);
  });

  it('a bucket refills at its rate and never above its burst', () => {
    let now = 0;
    const b = new TokenBuckets({ burst: 2, perSecond: 2 }, () => now);
    expect([b.take('a').ok, b.take('a').ok, b.take('a').ok]).toEqual([true, true, false]);
    expect(b.take('a').retryAfterS).toBe(1);
    now += 500;
    expect(b.take('a').ok).toBe(true);
    expect(b.take('a').ok).toBe(false);
    now += 60_000;
    expect(b.take('a')).toMatchObject({ ok: true, remaining: 1 });
  });

  it('a service without NETPLUMB_TOKEN (one user, loopback only) limits nothing', async () => {
    const t = await testApp({ config: { rateLimit: { burst: 1, perSecond: 1 } } });
    for (let i = 0; i < 5; i++) expect((await t.json('GET', '/hosts')).status).toBe(200);
  });
});
