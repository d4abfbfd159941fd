/** Bearer token auth with a constant-time compare; open paths need no token. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { problem } from '../model/problems.js';
import { problemResponse } from './problems.js';

/** The page at /ui and its static assets carry no data: the page asks for the token and sends it with each API call. */
const OPEN = (path: string) =>
  path === '/healthz' ||
  path === '/readyz' ||
  path === '/openapi.json' ||
  path === '/docs' ||
  path.startsWith('/docs/') ||
  path === '/ui' ||
  path.startsWith('/ui/');

const digest = (s: string) => createHash('sha256').update(s).digest();

/** metricsToken: a second token that opens GET /metrics only (a scraper need not hold the API token). */
export function bearerAuth(token: string | undefined, opts: { metricsToken?: string | undefined } = {}): MiddlewareHandler {
  const want = token ? digest(token) : null;
  const forMetrics = [want, opts.metricsToken ? digest(opts.metricsToken) : null].filter((d) => d !== null);
  return async (c, next) => {
    if (OPEN(c.req.path)) return next();
    const wanted = c.req.path === '/metrics' ? forMetrics : want ? [want] : [];
    if (!wanted.length) return next();
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    // Every token is compared (constant time each), so which one matched does not show in the time taken.
    const sent = m ? digest(m[1]!) : null;
    const ok = sent !== null && wanted.map((w) => timingSafeEqual(sent, w)).includes(true);
    if (!ok) {
      // problemResponse adds the challenge (WWW-Authenticate) to every 401.
      return problemResponse(c, problem('unauthorized', m ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>'));
    }
    return next();
  };
}
