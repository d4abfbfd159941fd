/** What only shows over a real socket (serveApp, as src/server.ts listens): the HTTP server's own touches on answers. */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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

  /** One request on `agent`'s connections: status, headers, body, and the socket it went over. */
  const send = (agent: Agent, method: string, path: string, body?: Buffer) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; text: string; socket: Socket }>((resolve, reject) => {
      const { port } = new URL(base);
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {},
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, socket: req.socket! }));
        },
      );
      // The server may answer and close before the whole body is sent: the answer counts, not the write.
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
      req.end(body);
    });

  it('a body over the limit → 413 problem with Connection: close, the connection ends, and a new one works (issue 27)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(agent, 'GET', '/hosts');
      expect(first.status).toBe(200);
      expect(first.headers.connection).toBe('keep-alive');
      const big = Buffer.from(JSON.stringify({ host: 'docker1', name: 'br0', labels: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
      const tooBig = await send(agent, 'POST', '/bridges', big);
      expect(tooBig.status).toBe(413);
      expect(tooBig.headers.connection).toBe('close');
      expect(tooBig.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(tooBig.text)).toMatchObject({ type: 'https://netplumb.dev/problems/payload-too-large', status: 413 });
      // The server ends that connection (it never read the rest of the body); the agent opens a new one, which works.
      await new Promise<void>((r) => (tooBig.socket.destroyed ? r() : tooBig.socket.once('close', () => r())));
      const after = await send(agent, 'GET', '/hosts');
      expect(after.status).toBe(200);
      expect(after.socket).not.toBe(tooBig.socket);
      const res = await fetch(`${base}/bridges`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: big });
      expect(res.status).toBe(413);
      expect(await contractMismatches('POST', res.url, res)).toEqual([]);
      expect((await call('GET', '/hosts')).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });
});
