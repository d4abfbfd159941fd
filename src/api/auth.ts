/**
 * Who is calling: the bearer is the bootstrap token (NETPLUMB_TOKEN, admin, compared in constant time), an API token
 * (`np_…`, looked up by its SHA-256 on every request, so a revoke is seen at once by every replica), or a CI identity
 * token (OIDC, api/oidc.ts). The principal goes into the context; what it may do is checked by api/scopes.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { problem } from '../model/problems.js';
import { ScopeSchema, type Principal, type Restrictions } from '../model/principals.js';
import { problemResponse } from './problems.js';
import type { Env } from './common.js';
import { looksLikeJwt, OidcRefusal, type OidcVerifier } from './oidc.js';

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
/** How API tokens are kept: SHA-256, hex (a 256-bit random token needs no slow hash: it cannot be guessed). */
export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');
export const API_TOKEN_PREFIX = 'np_';

const BOOTSTRAP: Principal = { kind: 'bootstrap', id: 'bootstrap', name: 'the bootstrap token (NETPLUMB_TOKEN)', scopes: ['admin'] };
/** No NETPLUMB_TOKEN: the service listens on loopback only and whoever reaches it is admin (as before tokens). */
const ANONYMOUS: Principal = { kind: 'anonymous', id: 'anonymous', name: 'anonymous (no NETPLUMB_TOKEN)', scopes: ['admin'] };

export interface AuthOptions {
  /** A second token that opens GET /metrics only (a scraper need not hold an API token). */
  metricsToken?: string | undefined;
  oidc?: OidcVerifier | undefined;
}

export function bearerAuth(token: string | undefined, opts: AuthOptions = {}): MiddlewareHandler<Env> {
  const bootstrap = token ? digest(token) : null;
  const metrics = opts.metricsToken ? digest(opts.metricsToken) : null;
  return async (c, next) => {
    if (OPEN(c.req.path)) return next();
    const h = c.req.header('authorization');
    const m = h === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) {
      // With NETPLUMB_METRICS_TOKEN set, /metrics wants a token even when the API has none (as before principals).
      if (h === undefined && !bootstrap && !(metrics && c.req.path === '/metrics')) {
        c.set('principal', ANONYMOUS);
        return next();
      }
      // problemResponse adds the challenge (WWW-Authenticate) to every 401.
      return problemResponse(c, problem('unauthorized', 'send Authorization: Bearer <token>'));
    }
    const sent = m[1]!;
    const sentDigest = digest(sent);
    // Both compared (constant time each), so which one matched does not show in the time taken.
    const isBootstrap = bootstrap !== null && timingSafeEqual(sentDigest, bootstrap);
    const isMetrics = metrics !== null && timingSafeEqual(sentDigest, metrics);
    if (isBootstrap) {
      c.set('principal', BOOTSTRAP);
      return next();
    }
    if (isMetrics && c.req.path === '/metrics') return next();
    const who = await identify(c, sent, opts.oidc);
    if (typeof who === 'string') return problemResponse(c, problem('unauthorized', who));
    c.set('principal', who);
    return next();
  };
}

/** The principal a bearer stands for, or why it is refused (never the token itself). */
async function identify(c: Context<Env>, sent: string, oidc: OidcVerifier | undefined): Promise<Principal | string> {
  if (sent.startsWith(API_TOKEN_PREFIX)) {
    const rec = await c.get('deps').store.getTokenByHash(tokenHash(sent));
    if (!rec) return 'the bearer token is not valid';
    if (rec.revokedAt) return `the token ${rec.name} (${rec.id}) was revoked at ${rec.revokedAt}`;
    if (rec.expiresAt && Date.parse(rec.expiresAt) <= Date.now()) return `the token ${rec.name} (${rec.id}) expired at ${rec.expiresAt}`;
    const data = rec.data as { scopes?: unknown } & Restrictions;
    return {
      kind: 'token',
      id: rec.id,
      name: rec.name,
      scopes: ScopeSchema.array().parse(data.scopes),
      ...(data.topologies ? { topologies: data.topologies } : {}),
      ...(data.hostLabels ? { hostLabels: data.hostLabels } : {}),
    };
  }
  if (oidc?.enabled && looksLikeJwt(sent)) {
    try {
      return await oidc.verify(sent);
    } catch (e) {
      if (e instanceof OidcRefusal) return e.message;
      throw e;
    }
  }
  return 'the bearer token is not valid';
}
