/** What only shows over a real socket (serveApp, as src/server.ts listens): the HTTP server's own touches on answers. */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerType } from '@hono/node-server';
import { serveApp } from '../../src/listen.js';
import { localHost, testApp } from '../helpers/app.js';
import { contractMismatches } from '../helpers/contract.js';

describe('over a socket', async () => {
  const t = await testApp();
  let server: ServerType;
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serveApp(t.app, { port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // The document, checked on the bytes as they arrive (the helper's check sees the app's answer, before the server).
    expect(await contractMismatches(method, res.url, res)).toEqual([]);
    return res;
  };

  it('a 204 carries no Content-Type and no body, first time and replayed; other answers keep theirs', async () => {
    const created = await call('POST', '/hosts', localHost('h204'));
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/json');
    const { id } = (await created.json()) as { id: string };
    for (const replayed of [null, 'true']) {
      const res = await call('DELETE', `/hosts/${id}`, undefined, { 'Idempotency-Key': 'delete-h204' });
      expect(res.status).toBe(204);
      expect(res.headers.get('idempotency-replayed')).toBe(replayed);
      expect(res.headers.get('content-type')).toBeNull();
      expect(await res.text()).toBe('');
    }
    const gone = await call('GET', `/hosts/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toBe('application/problem+json');
  });

  it('a body in a media type the operation does not take → 415 problem (declared)', async () => {
    const res = await fetch(`${base}/bridges`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'br0' });
    expect(res.status).toBe(415);
    expect(await contractMismatches('POST', res.url, res)).toEqual([]);
    expect(((await res.json()) as { type: string }).type).toBe('https://netplumb.dev/problems/unsupported-media-type');
  });
});
