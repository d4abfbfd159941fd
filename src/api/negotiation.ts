/**
 * Method and media negotiation from the routes themselves: 405 with `Allow` for a path that exists under other methods,
 * 406 when `Accept` admits none of the media types an operation answers with (RFC 9110 §15.5.6, §12.5.1).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, Env, Hono, MiddlewareHandler } from 'hono';
import { ProblemError } from '../model/problems.js';
import { problemResponse } from './problems.js';

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/** `Accept` as media ranges (RFC 9110 §12.5.1); an unparsable entry is left out. */
export function parseAccept(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const m = /^([a-z0-9!#$%&'*+.^_`|~-]+)\/([a-z0-9!#$%&'*+.^_`|~-]+)$/.exec(range);
    if (!m) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    out.push({ type: m[1]!, subtype: m[2]!, q: Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 1 });
  }
  return out;
}

/** How much `Accept` wants this media type: the q of its most specific matching range (0: not at all). */
function quality(ranges: MediaRange[], media: string): number {
  const [type = '', subtype = ''] = media.toLowerCase().split('/');
  let best: { specificity: number; q: number } | null = null;
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' ? 0 : -1;
    if (specificity < 0) continue;
    if (!best || specificity > best.specificity) best = { specificity, q: r.q };
  }
  return best?.q ?? 0;
}

/**
 * The offered media type `Accept` prefers (ties: the first offered), null when it admits none. No `Accept` (or one
 * with no range that parses) takes the first offered.
 */
export function preferredMedia(accept: string | undefined, offered: readonly string[]): string | null {
  const ranges = accept ? parseAccept(accept) : [];
  if (!ranges.length) return offered[0] ?? null;
  let best: { media: string; q: number } | null = null;
  for (const media of offered) {
    const q = quality(ranges, media);
    if (q > 0 && (!best || q > best.q)) best = { media, q };
  }
  return best?.media ?? null;
}

/** 406: what `Accept` said, and what the operation can answer with instead (`acceptable`). */
export function notAcceptable(accept: string | undefined, offered: readonly string[]): ProblemError {
  return new ProblemError('not-acceptable', `Accept: ${accept ?? ''} admits none of ${offered.join(', ')}`, { acceptable: [...offered] });
}

/** The offered media type to answer with, by `Accept`; a 406 problem when it admits none. */
export function negotiate(c: Context, offered: readonly string[]): string {
  const media = preferredMedia(c.req.header('accept'), offered);
  if (media === null) throw notAcceptable(c.req.header('accept'), offered);
  return media;
}

/** `{id}` (OpenAPI) and `:id`, `*` (Hono) paths as one pattern; literal segments count, so the more specific wins. */
export function pathPattern(path: string): { pattern: RegExp; literals: number } {
  const segments = path.split('/').slice(1);
  const re = segments
    .map((s) => {
      if (s === '*') return '.*';
      if (/^\{.+\}$/.test(s) || s.startsWith(':')) return '[^/]+';
      return s.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return {
    pattern: new RegExp(`^/${re}/?$`),
    literals: segments.filter((s) => !s.startsWith('{') && !s.startsWith(':') && s !== '*').length,
  };
}

interface Operation {
  method: string;
  pattern: RegExp;
  literals: number;
  /** The media types of its success answers; null when one of them has no body (nothing to negotiate). */
  media: string[] | null;
}

/** The operations of the API router, from its own route definitions (what the OpenAPI document is made from). */
function operationsOf<E extends Env>(api: OpenAPIHono<E>): Operation[] {
  const ops: Operation[] = [];
  for (const d of api.openAPIRegistry.definitions) {
    if (d.type !== 'route') continue;
    const success = Object.entries(d.route.responses).filter(([s]) => s.startsWith('2'));
    const bodiless = success.some(([, r]) => !('content' in r) || !r.content);
    const media = bodiless ? null : [...new Set(success.flatMap(([, r]) => Object.keys(('content' in r && r.content) || {})))];
    ops.push({ method: d.route.method.toUpperCase(), ...pathPattern(d.route.path), media });
  }
  return ops.sort((a, b) => b.literals - a.literals);
}

/** 406 for a request whose `Accept` admits none of what its operation answers with (a problem goes out as JSON). */
export function negotiateMedia<E extends Env>(api: OpenAPIHono<E>): MiddlewareHandler {
  let ops: Operation[] | null = null;
  return async (c, next) => {
    const accept = c.req.header('accept');
    if (!accept) return next();
    ops ??= operationsOf(api);
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const op = ops.find((o) => o.method === method && o.pattern.test(c.req.path));
    if (op?.media?.length && preferredMedia(accept, op.media) === null) return problemResponse(c, notAcceptable(accept, op.media).problem);
    return next();
  };
}

/** The methods the app answers on a path (HEAD wherever GET is), from its routes; empty for a path it does not know. */
export function allowedMethods<E extends Env>(app: Hono<E>): (path: string) => string[] {
  let table: { method: string; pattern: RegExp }[] | null = null;
  return (path) => {
    table ??= app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({ method: r.method.toUpperCase(), pattern: pathPattern(r.path).pattern }));
    const methods = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}
