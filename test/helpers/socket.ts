/**
 * The API suite over a real socket (the `api-http` vitest project, NETPLUMB_TEST_TRANSPORT=socket): testApp()'s
 * `app.request()` then sends each request through the app served as src/server.ts serves it (serveApp, @hono/node-server)
 * on a loopback port, and the contract check reads the answer as it arrived, headers included. What only a socket
 * shows (a header the Node server drops, a connection left open) then fails the same tests that pass in-process.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { ServerType } from '@hono/node-server';
import { serveApp } from '../../src/listen.js';

export const overSocket = (): boolean => process.env.NETPLUMB_TEST_TRANSPORT === 'socket';

const servers = new Set<{ close(): Promise<void> }>();

/** Closes every server socketRequester() started (setup.ts, after each file). */
export async function closeTestServers(): Promise<void> {
  await Promise.all([...servers].map((s) => s.close()));
  servers.clear();
}

type Fetch = (request: Request) => Response | Promise<Response>;

/** Statuses whose answers have no body (a Response refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * A `request(input, init)` like Hono's app.request (a path is taken relative to http://localhost, as there, so the
 * Host header is the URL's unless the request sets one) that goes over HTTP/1.1 to the app served on 127.0.0.1.
 * The server starts on the first request; `onAnswer` sees each answer as it arrived.
 */
export function socketRequester(
  fetch: Fetch,
  onAnswer: (method: string, url: string, res: Response) => Promise<void>,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  let server: ServerType | undefined;
  let port: Promise<number> | undefined;
  const agent = new Agent({ keepAlive: true });
  const listening = () =>
    (port ??= new Promise<number>((resolve) => {
      server = serveApp({ fetch }, { port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
      servers.add({
        close: () =>
          new Promise<void>((r) => {
            agent.destroy();
            server!.close(() => r());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    }));
  return async (input, init) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init);
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    headers.host ??= url.host;
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    if (body) headers['content-length'] = String(body.length);
    else if (!['GET', 'HEAD'].includes(req.method)) headers['content-length'] = '0';
    const p = await listening();
    const res = await new Promise<Response>((resolve, reject) => {
      const r = httpRequest(
        { host: '127.0.0.1', port: p, method: req.method, path: url.pathname + url.search, headers, agent, signal: req.signal },
        (m) => {
          const h = new Headers();
          for (let i = 0; i + 1 < m.rawHeaders.length; i += 2) h.append(m.rawHeaders[i]!, m.rawHeaders[i + 1]!);
          const status = m.statusCode ?? 0;
          const noBody = NULL_BODY.has(status) || req.method === 'HEAD';
          if (noBody) m.resume();
          resolve(
            new Response(noBody ? null : (Readable.toWeb(m) as ReadableStream<Uint8Array>), {
              status,
              statusText: m.statusMessage ?? '',
              headers: h,
            }),
          );
        },
      );
      r.on('error', reject);
      r.end(body);
    });
    await onAnswer(req.method, req.url, res);
    return res;
  };
}
