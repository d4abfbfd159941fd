/**
 * Host and Origin checks against DNS rebinding and cross-site requests.
 *
 * Without a token the service listens on loopback and anyone who can make the operator's browser send a request
 * could act as the operator: a page on evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example`;
 * a plain cross-site form or fetch sends `Origin: http://evil.example`. So:
 * - Host: only the loopback names (`127.0.0.1`, `localhost`, `[::1]`, on the listening port) and the entries of
 *   NETPLUMB_ALLOWED_HOSTS are served; anything else is 421 misdirected-request, for every method (a rebound page can
 *   read answers). Checked without a token always, with a token when NETPLUMB_ALLOWED_HOSTS is set.
 * - Origin: a state-changing request (POST, PUT, PATCH, DELETE) that carries an `Origin` other than the service's own
 *   (the Host it was sent to) or one of NETPLUMB_CORS_ORIGINS, or no Origin but `Sec-Fetch-Site` other than
 *   `same-origin`/`none`, is 403 forbidden-origin. Always checked: curl, the SDK and CI scripts send no Origin.
 * `/healthz` and `/readyz` answer any Host (probes address the service by whatever name or address they have).
 */
import type { MiddlewareHandler } from 'hono';
import { problem } from '../model/problems.js';
import { problemResponse } from './problems.js';

export interface OriginPolicy {
  /** With a token, the Host check applies only when allowedHosts is set. */
  token?: string | undefined;
  /** The listening port; unknown or 0 (chosen by the OS) = any port on the loopback names. */
  port?: number | undefined;
  /** `name` (any port) or `name:port`; IPv6 in brackets. */
  allowedHosts?: readonly string[] | undefined;
  /** Browser front ends on other origins allowed to call the API (CORS); exact `scheme://host[:port]`. */
  corsOrigins?: readonly string[] | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const EXEMPT = (path: string) => path === '/healthz' || path === '/readyz';

/** `name[:port]` → parts, or null when it is not a plausible Host value. */
export function splitHost(h: string): { name: string; port: number | null } | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/.exec(h.trim().toLowerCase());
  if (!m) return null;
  return { name: m[1]!, port: m[2] === undefined ? null : Number(m[2]) };
}

export function hostAllowed(host: string, policy: OriginPolicy): boolean {
  const h = splitHost(host);
  if (!h) return false;
  if (LOOPBACK.has(h.name)) {
    if (!policy.port) return true;
    return h.port === policy.port || (h.port === null && policy.port === 80);
  }
  for (const entry of policy.allowedHosts ?? []) {
    const e = splitHost(entry);
    if (e && e.name === h.name && (e.port === null || e.port === (h.port ?? 80))) return true;
  }
  return false;
}

export function originGuard(policy: OriginPolicy): MiddlewareHandler {
  const checkHost = !policy.token || (policy.allowedHosts?.length ?? 0) > 0;
  const cors = new Set((policy.corsOrigins ?? []).map((o) => o.toLowerCase()));
  return async (c, next) => {
    if (EXEMPT(c.req.path)) return next();
    // What the browser sent; the URL's host when there is no header (HTTP/1.0, in-process requests).
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    if (checkHost && !hostAllowed(host, policy)) {
      return problemResponse(
        c,
        problem(
          'misdirected-request',
          `this service does not answer for Host ${JSON.stringify(host.slice(0, 100))}: use 127.0.0.1, localhost or [::1] with its port, or list the name in NETPLUMB_ALLOWED_HOSTS`,
        ),
      );
    }
    if (UNSAFE.has(c.req.method)) {
      const origin = c.req.header('origin');
      if (origin !== undefined) {
        const o = origin.trim().toLowerCase();
        // Same host as the request went to (scheme aside: a TLS proxy in front changes it), or an allowed front end.
        const own = /^https?:\/\/([^/]+)$/.exec(o)?.[1] === host.toLowerCase();
        if (!own && !cors.has(o)) {
          return problemResponse(
            c,
            problem(
              'forbidden-origin',
              `refused a ${c.req.method} from the web page at ${JSON.stringify(origin.slice(0, 100))}: only this service's own pages and NETPLUMB_CORS_ORIGINS may change state from a browser`,
            ),
          );
        }
      } else {
        const site = c.req.header('sec-fetch-site');
        if (site !== undefined && site !== 'same-origin' && site !== 'none') {
          return problemResponse(c, problem('forbidden-origin', `refused a ${c.req.method} sent by a ${site} web page`));
        }
      }
    }
    return next();
  };
}
