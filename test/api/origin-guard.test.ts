import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { localHost, testApp } from '../helpers/app.js';

const TOKEN = 'test-token-0123456789abcdef';
const EVIL = { Host: 'evil.example', Origin: 'http://evil.example' };

describe('DNS rebinding and cross-site requests (issue 9, finding 1)', () => {
  it('no token: a request for Host evil.example with Origin evil.example is refused (421) and runs no job', async () => {
    const { json, store, world } = await testApp();
    const r = await json('POST', '/hosts', localHost('docker1'), EVIL);
    expect(r.status).toBe(421);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(await r.json()).toMatchObject({ type: 'https://netplumb.dev/problems/misdirected-request', status: 421 });
    // The same through the URL (absolute-form request target), and for reads: a rebound page could read them.
    expect((await json('POST', 'http://evil.example/hosts', localHost('docker1'))).status).toBe(421);
    expect((await json('GET', '/hosts', undefined, { Host: 'evil.example' })).status).toBe(421);
    expect((await json('GET', '/openapi.json', undefined, { Host: 'evil.example:8080' })).status).toBe(421);
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
    expect((await store.listResources('host', { limit: 10 })).items).toHaveLength(0);
    expect(world.calls).toHaveLength(0);
  });

  it('no token: a body-less cross-origin POST (probe) sent to localhost is refused (403) and runs no job', async () => {
    const { json, store, world } = await testApp();
    expect((await json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    const jobs = (await store.listJobs({ limit: 10 })).items.length;
    const calls = world.calls.length;
    for (const headers of <Record<string, string>[]>[
      { Origin: 'http://evil.example' },
      { Origin: 'null' },
      { Origin: 'http://localhost:3000' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
    ]) {
      const r = await json('POST', '/hosts/docker1/probe', undefined, headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect((await r.json()).type).toBe('https://netplumb.dev/problems/forbidden-origin');
    }
    expect((await json('DELETE', '/hosts/docker1', undefined, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(jobs);
    expect(world.calls).toHaveLength(calls);
  });

  it('no token: the loopback names, same-origin pages (e.g. /docs) and clients without Origin are served', async () => {
    const { json } = await testApp({ config: { port: 8080 } });
    expect((await json('GET', '/hosts', undefined, { Host: '127.0.0.1:8080' })).status).toBe(200);
    expect((await json('GET', '/hosts', undefined, { Host: 'LOCALHOST:8080' })).status).toBe(200);
    expect((await json('GET', '/hosts', undefined, { Host: '[::1]:8080' })).status).toBe(200);
    // Right name, wrong port: not the listening address.
    expect((await json('GET', '/hosts', undefined, { Host: '127.0.0.1:9999' })).status).toBe(421);
    const same = await json('POST', '/hosts', localHost('docker1'), {
      Host: '127.0.0.1:8080',
      Origin: 'http://127.0.0.1:8080',
      'Sec-Fetch-Site': 'same-origin',
    });
    expect(same.status).toBe(201);
    expect((await json('POST', '/hosts', localHost('docker2'), { Host: 'localhost:8080' })).status).toBe(201);
  });

  it('/healthz answers any Host (liveness probes)', async () => {
    const { json } = await testApp();
    expect((await json('GET', '/healthz', undefined, { Host: 'evil.example' })).status).toBe(200);
  });

  it('NETPLUMB_ALLOWED_HOSTS adds names; with a token the Host check applies only when it is set, the Origin check always', async () => {
    const a = await testApp({ config: { allowedHosts: ['np.lab', 'np2.lab:8443'] } });
    expect((await a.json('GET', '/hosts', undefined, { Host: 'np.lab:8080' })).status).toBe(200);
    expect((await a.json('GET', '/hosts', undefined, { Host: 'np2.lab:8443' })).status).toBe(200);
    expect((await a.json('GET', '/hosts', undefined, { Host: 'np2.lab:8080' })).status).toBe(421);

    const t = await testApp({ token: TOKEN });
    expect((await t.json('GET', '/hosts', undefined, { Host: '10.0.0.5:8080' })).status).toBe(200);
    // A rebound name is stopped by the token itself; a cross-site page by the Origin check.
    expect((await t.json('POST', '/hosts', localHost('docker1'), { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await t.store.listJobs({ limit: 10 })).items).toHaveLength(0);

    const tl = await testApp({ token: TOKEN, config: { allowedHosts: ['np.lab'] } });
    expect((await tl.json('GET', '/hosts', undefined, { Host: '10.0.0.5:8080' })).status).toBe(421);
    expect((await tl.json('GET', '/hosts', undefined, { Host: 'np.lab' })).status).toBe(200);
  });

  it('CORS: no headers by default; NETPLUMB_CORS_ORIGINS answers the preflight of that front end and lets it change state', async () => {
    const plain = await testApp({ token: TOKEN });
    const pre = await plain.app.request('/hosts', {
      method: 'OPTIONS',
      headers: { Origin: 'https://ui.lab', 'Access-Control-Request-Method': 'POST' },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();

    const { app, json } = await testApp({ token: TOKEN, config: { corsOrigins: ['https://ui.lab'] } });
    const ok = await app.request('/hosts', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://ui.lab',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key',
      },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://ui.lab');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
    const other = await app.request('/hosts', {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect((await json('POST', '/hosts', localHost('docker1'), { Origin: 'https://ui.lab', 'Sec-Fetch-Site': 'cross-site' })).status).toBe(
      201,
    );
    expect((await json('POST', '/hosts', localHost('docker2'), { Origin: 'https://evil.example' })).status).toBe(403);
  });

  it('configuration: lists are parsed, nonsense is refused with the variable named', () => {
    expect(loadConfig({ NETPLUMB_ALLOWED_HOSTS: 'np.lab, 10.0.0.5:8080,[fd00::1]' }).allowedHosts).toEqual([
      'np.lab',
      '10.0.0.5:8080',
      '[fd00::1]',
    ]);
    expect(loadConfig({ NETPLUMB_CORS_ORIGINS: 'https://UI.lab:8443' }).corsOrigins).toEqual(['https://ui.lab:8443']);
    expect(() => loadConfig({ NETPLUMB_ALLOWED_HOSTS: 'http://np.lab/' })).toThrow(/NETPLUMB_ALLOWED_HOSTS/);
    expect(() => loadConfig({ NETPLUMB_CORS_ORIGINS: 'https://ui.lab/path' })).toThrow(/NETPLUMB_CORS_ORIGINS/);
    expect(loadConfig({})).toMatchObject({ allowedHosts: [], corsOrigins: [] });
  });

  it('over a real socket: Host evil.example to 127.0.0.1 is refused before any job', async () => {
    const { app, store } = await testApp();
    let server: ReturnType<typeof serve> | undefined;
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    try {
      const port = (server!.address() as AddressInfo).port;
      const send = (host: string, origin?: string) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              method: 'POST',
              path: '/hosts',
              headers: { Host: host, 'Content-Type': 'application/json', ...(origin ? { Origin: origin } : {}) },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode!);
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(localHost('docker1')));
        });
      expect(await send('evil.example', 'http://evil.example')).toBe(421);
      expect(await send(`evil.example:${port}`)).toBe(421);
      expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
      expect(await send(`127.0.0.1:${port}`)).toBe(201);
    } finally {
      await new Promise<void>((r) => server!.close(() => r()));
    }
  });
});
