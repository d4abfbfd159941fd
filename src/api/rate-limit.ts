/**
 * Rate limits per principal: a token bucket each (`burst` requests at once, refilled at `perSecond`), in this
 * process's memory (each replica counts its own). Past it: 429 `rate-limited` with `Retry-After` and the IETF httpapi
 * draft's `RateLimit-Policy` / `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers: a quota `q` per window `w`
 * seconds, `r` remaining, `t` seconds until the quota is whole again).
 */
import type { MiddlewareHandler } from 'hono';
import type { Principal } from '../model/principals.js';
import { problem } from '../model/problems.js';
import { problemResponse } from './problems.js';

export interface RateLimitConfig {
  burst: number;
  perSecond: number;
}

const POLICY = 'per-principal';
const MAX_BUCKETS = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly config: RateLimitConfig,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one request from the bucket: how many are left, or how long to wait (s) when none is. */
  take(id: string): { ok: boolean; remaining: number; retryAfterS: number; fullInS: number } {
    const { burst, perSecond } = this.config;
    const t = this.now();
    const b = this.buckets.get(id) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    if (this.buckets.size >= MAX_BUCKETS && !this.buckets.has(id)) this.prune(t);
    this.buckets.set(id, b);
    return {
      ok,
      remaining: Math.floor(b.tokens),
      retryAfterS: ok ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / perSecond)),
      fullInS: Math.ceil((burst - b.tokens) / perSecond),
    };
  }

  /** Forgets buckets that are full again (they would start full anyway). */
  private prune(t: number): void {
    for (const [id, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * this.config.perSecond >= this.config.burst) this.buckets.delete(id);
  }

  policyHeader(): string {
    return `"${POLICY}";q=${this.config.burst};w=${Math.max(1, Math.ceil(this.config.burst / this.config.perSecond))}`;
  }
}

/** After authentication (the principal is known); requests without one (open paths), or anonymous ones, are not counted. */
export function rateLimit(config: RateLimitConfig | undefined): MiddlewareHandler {
  if (!config) return (_c, next) => next();
  const buckets = new TokenBuckets(config);
  return async (c, next) => {
    const principal = c.get('principal') as Principal | undefined;
    // Without NETPLUMB_TOKEN the service is one user's, on loopback only: nothing to share, nothing to limit.
    if (!principal || principal.kind === 'anonymous') return next();
    const r = buckets.take(principal.id);
    if (r.ok) return next();
    const p = problem(
      'rate-limited',
      `${principal.name} sent more than ${config.burst} requests at once (refilled at ${config.perSecond}/s): try again in ${r.retryAfterS} s`,
      { retryAfter: r.retryAfterS },
    );
    return problemResponse(c, p, { 'RateLimit-Policy': buckets.policyHeader(), RateLimit: `"${POLICY}";r=${r.remaining};t=${r.fullInS}` });
  };
}
