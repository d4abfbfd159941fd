/**
 * Every request: its trace (a W3C `traceparent` taken, or a new trace), a request id, a span, one log line when it
 * is done and its duration in the metrics, labelled with the route TEMPLATE (`/bridges/:id`), never the path as sent.
 * Runs first, so refused requests (401, 421, 413) are counted and logged like any other.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type { Observability } from '../observability/index.js';
import { formatTraceparent, inScope, parseTraceparent } from '../observability/trace.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Methods counted under their name; anything else as OTHER (a label a client cannot grow). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The template of the route that answered (or would have: a 401 still names its route), `unmatched` for none. */
function routeTemplate(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const p = routes[i]!.path;
    if (p !== '*' && p !== '/*') return p;
  }
  return 'unmatched';
}

export function telemetry(obs: Observability): MiddlewareHandler {
  const { metrics, logger, tracer } = obs;
  return async (c, next) => {
    const started = performance.now();
    const incoming = parseTraceparent(c.req.header('traceparent'));
    const sent = c.req.header('x-request-id');
    const requestId = sent && REQUEST_ID.test(sent) ? sent : randomUUID();
    const method = METHODS.has(c.req.method) ? c.req.method : 'OTHER';
    const span = tracer.startSpan(`${method} request`, { parent: incoming ?? undefined, kind: 'server' });
    let error: unknown;
    try {
      await inScope({ span: span.context, requestId }, next);
    } catch (e) {
      error = e;
      throw e;
    } finally {
      const route = routeTemplate(c);
      const status = error === undefined ? c.res.status : 500;
      const seconds = (performance.now() - started) / 1000;
      metrics.httpDuration.observe({ method, route, status: String(status) }, seconds);
      if (error === undefined) {
        try {
          c.res.headers.set('traceparent', formatTraceparent(span.context));
          c.res.headers.set('X-Trace-Id', span.context.traceId);
          c.res.headers.set('X-Request-Id', requestId);
        } catch {
          // A response with immutable headers (one fetched from elsewhere) goes out as it is.
        }
      }
      span.setAttribute('http.request.method', method);
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.fail(`HTTP ${status}`);
      span.end();
      // /metrics and the health checks are polled: their lines would drown the rest (debug shows them).
      const polled = route === '/metrics' || route === '/healthz' || route === '/readyz';
      logger[polled ? 'debug' : status >= 500 ? 'error' : 'info'](
        { requestId, traceId: span.context.traceId, method, route, status, ms: Math.round(seconds * 10_000) / 10 },
        'request done',
      );
    }
  };
}
