/** Serving the app over HTTP: @hono/node-server, with bodiless answers kept bodiless. */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';

/** No content, so no Content-Type (RFC 9110 §6.4.1); 304 answers for a body it does not send. */
const BODILESS = new Set([204, 304]);

/**
 * @hono/node-server gives every response that has no Content-Type `text/plain; charset=UTF-8`, a 204 included, and
 * the API document says a 204 has no content at all. It passes its headers to writeHead: they are dropped there.
 */
export class BodilessResponse<R extends IncomingMessage = IncomingMessage> extends ServerResponse<R> {
  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (BODILESS.has(statusCode)) {
      this.removeHeader('content-type');
      if (typeof messageOrHeaders === 'string') headers = withoutContentType(headers);
      else messageOrHeaders = withoutContentType(messageOrHeaders);
    }
    return typeof messageOrHeaders === 'string'
      ? super.writeHead(statusCode, messageOrHeaders, headers)
      : super.writeHead(statusCode, messageOrHeaders);
  }
}

function withoutContentType<H extends OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined>(headers: H): H {
  if (!headers) return headers;
  if (Array.isArray(headers)) {
    // A flat [name, value, name, value, …] list.
    const kept: OutgoingHttpHeader[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() !== 'content-type') kept.push(headers[i]!, headers[i + 1]!);
    }
    return kept as H;
  }
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-type')) as H;
}

/** Listens with the app's fetch handler; `onListening` gets the bound port (0 = chosen by the OS). */
export function serveApp(
  app: { fetch: Parameters<typeof serve>[0]['fetch'] },
  opts: { port: number; hostname: string },
  onListening?: (info: AddressInfo) => void,
): ServerType {
  const server = serve(
    { fetch: app.fetch, port: opts.port, hostname: opts.hostname, serverOptions: { ServerResponse: BodilessResponse } },
    onListening,
  );
  // Host names are case-insensitive (RFC 9110 §7.2), but @hono/node-server refuses a Host the URL parser would
  // lowercase (`LOCALHOST:8080`) with a plain-text 400 before the app sees it: it gets it lowercased instead.
  server.prependListener('request', (req: IncomingMessage) => {
    const host = req.headers.host;
    if (host && host !== host.toLowerCase()) req.headers.host = host.toLowerCase();
  });
  return server;
}
