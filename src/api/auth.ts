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

export function bearerAuth(token: string | undefined): MiddlewareHandler {
  const want = token ? digest(token) : null;
  return async (c, next) => {
    if (!want || OPEN(c.req.path)) return next();
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      const res = problemResponse(c, problem('unauthorized', m ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>'));
      res.headers.set('WWW-Authenticate', 'Bearer realm="netplumb"');
      return res;
    }
    return next();
  };
}
