/** Problem responses (RFC 9457): declared once, spread into every route. */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ProblemSchema } from '../model/jobs.js';
import { problem, type FieldError, type Problem } from '../model/problems.js';

const content = { 'application/problem+json': { schema: ProblemSchema } };
const r = (description: string) => ({ description, content });

/** `Retry-After`: seconds; sent with every problem that has `retryAfter` (the same number). */
const RetryAfterHeader = z
  .number()
  .int()
  .min(0)
  .max(86_400)
  .openapi({ description: "Seconds to wait before trying again (the problem's `retryAfter`)", example: 10 });
const retryAfter = (required: boolean) => z.object({ 'Retry-After': required ? RetryAfterHeader : RetryAfterHeader.optional() });
const storageUnavailable = '`storage-unavailable`: the store cannot be used right now; try again after `Retry-After` seconds';

/** A failure of a managed host: a gateway error (docs/http.md), with `Retry-After` when trying again can help. */
const hostFailures = {
  502: {
    description:
      'A host failed: `host-unreachable` (it did not answer or dropped the connection; with `Retry-After`), `host-key-mismatch` ' +
      '(its SSH host key is not the pinned one), or `command-failed` (a command failed on it; a job that failed was undone)',
    headers: retryAfter(false),
    content,
  },
  504: {
    description:
      'A host did not answer in time: `command-timeout` (with `Retry-After`), `timeout` (the job waited past a bound: a lock, a channel, a batch; with `Retry-After`), or `dhcp-no-lease` (no DHCP server on the segment answered; the job was undone)',
    headers: retryAfter(false),
    content,
  },
} as const;

/** What any route can answer, whatever it does. */
export const errorResponses = {
  400: r(
    "`malformed-json` (a body that is not JSON), `invalid-cursor` (a `cursor` that is not one of this list's pages: `errors[]` points at it) or `bad-request`",
  ),
  401: {
    description: '`unauthorized`: missing or wrong bearer token (when the service has one)',
    headers: z.object({
      'WWW-Authenticate': z
        .string()
        .max(200)
        .regex(/^Bearer /)
        .openapi({ example: 'Bearer realm="netplumb"' }),
    }),
    content,
  },
  403: r(
    '`forbidden`: the principal lacks the scope this operation declares (`missing.scope`), or the target is outside its restrictions (`missing.topology`, `missing.hostLabel`); nothing was done. Also `forbidden-origin` on state changes.',
  ),
  406: r('`not-acceptable`: `Accept` names no media type this operation answers with (the problem itself is JSON)'),
  413: {
    description: '`payload-too-large`: body larger than the limit (1 MiB by default); the connection is closed after the answer',
    headers: z.object({
      Connection: z.enum(['close']).openapi({ description: 'the rest of the body is not read: the connection ends with this answer' }),
    }),
    content,
  },
  421: r('`misdirected-request`: the `Host` is not one this service answers for (loopback names, NETPLUMB_ALLOWED_HOSTS): DNS rebinding'),
  422: r('`validation`: `errors[]` holds a JSON pointer (and `in`: path, query or header, when not in the body) per bad field'),
  429: {
    description:
      '`rate-limited`: the principal sent more requests than its token bucket holds; try again after `Retry-After` seconds (docs/security.md#rate-limits)',
    headers: z.object({
      'Retry-After': RetryAfterHeader,
      'RateLimit-Policy': z
        .string()
        .max(200)
        .openapi({ description: 'IETF httpapi draft: the quota `q` per window `w` (seconds)', example: '"per-principal";q=120;w=6' }),
      RateLimit: z.string().max(200).openapi({
        description: 'IETF httpapi draft: `r` requests remaining, `t` seconds until the quota is whole',
        example: '"per-principal";r=0;t=6',
      }),
    }),
    content,
  },
  500: r('`internal`: an unexpected error'),
  503: { description: storageUnavailable, headers: retryAfter(true), content },
} as const;

export const mutationErrorResponses = {
  ...errorResponses,
  403: r(
    '`forbidden`: the principal lacks the scope this operation declares (`missing.scope`), or the target is outside its restrictions (`missing.topology`, `missing.hostLabel`); no job was made. `forbidden-origin`: a state change sent by a web page on another origin (`Origin`, `Sec-Fetch-Site`) that is not in NETPLUMB_CORS_ORIGINS',
  ),
  404: r('`not-found` (a referenced resource does not exist) or `container-not-found`'),
  409: r(
    '`conflict` with the current state (a resource busy with another job names it in `jobId`), `container-not-running`, or `idempotency-in-progress` (the first request with this Idempotency-Key still runs: `jobId`)',
  ),
  422: r(
    '`validation` (`errors[]` holds a JSON pointer per bad field), `idempotency-key-reused` (the key came with another request), or `unusable-key` (an SSH private key that cannot be used)',
  ),
  500: r('`internal`, or `job-interrupted` (the service stopped while the job ran)'),
  ...hostFailures,
  503: {
    description:
      storageUnavailable +
      ' (when a job finished but its outcome is not saved yet, with its `jobId`); or `shutting-down`: this replica drains after SIGTERM and takes no new work (try another, or again after `Retry-After`)',
    headers: retryAfter(true),
    content,
  },
} as const;

/** A request body's media type the route does not take (the mutations' bodies are JSON; topologies also YAML). */
export const bodyErrorResponses = {
  415: r('`unsupported-media-type`: the body is not in a media type the operation takes'),
} as const;

/** A conditional request (`If-Match`, `If-None-Match`) whose condition does not hold: refused before any job. */
export const preconditionResponses = {
  412: r(
    '`precondition-failed`: `If-Match` names another version than the current one (the resource changed since it was read), or `If-None-Match: *` found it existing; `etag` is the current one. No job was made.',
  ),
} as const;

/** Reading live state from hosts outside a job (`observe=true`) can fail as a job's commands do. */
export const observeErrorResponses = hostFailures;

export const notFoundResponse = { 404: r('`not-found`: no such resource') } as const;

/** `{ ...a, ...b }` turns numeric status keys into strings ("404") in the type, and hono then drops them from a route's typed responses. */
type NumericKeys<T> = { [K in keyof T as K extends `${infer N extends number}` ? N : K]: T[K] };

/**
 * A route's responses, with every status typed as the number it is (at run time keys are strings either way), so
 * handlers are checked against all of them: 202, problems and replays included.
 */
export function statusResponses<const T extends object>(responses: T): NumericKeys<T> {
  return responses as NumericKeys<T>;
}

/**
 * The headers a problem answer carries, by what it is: `Retry-After` with `retryAfter`, the challenge with a 401, and
 * `Connection: close` with a 413 (the rest of the body is never read, so the connection cannot serve another request).
 */
export function problemHeaders(p: Problem): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (typeof p.retryAfter === 'number') headers['Retry-After'] = String(Math.max(0, Math.ceil(p.retryAfter)));
  if (p.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="netplumb"';
  if (p.status === 413) headers.Connection = 'close';
  return headers;
}

/**
 * A problem answer, every header given when the response is made. Never set a header on a response afterwards: under
 * @hono/node-server a response is "lightweight" until something reads it (a middleware's clone()), and then it is
 * rebuilt from what it was made with, so a header added in between never reaches the socket (issue 27: the 401's
 * WWW-Authenticate was lost that way, though app.request() showed it).
 */
export function problemResponse(c: Context, p: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify({ ...p, instance: p.instance ?? c.req.path }), p.status as 400, { ...problemHeaders(p), ...headers });
}

function escapePointer(seg: PropertyKey): string {
  return String(seg).replaceAll('~', '~0').replaceAll('/', '~1');
}

type Issue = ZodError['issues'][number];

/**
 * A union (`addresses`: CIDRs or "dhcp") fails as one issue holding each option's issues. The option the input had
 * the shape of (its issues are not a wrong type at the union's own path) says what is wrong, with its pointers.
 */
function flattenUnions(issues: readonly Issue[], base: readonly PropertyKey[] = []): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((i) => {
    const path = [...base, ...i.path];
    if (i.code === 'invalid_union' && 'errors' in i && Array.isArray(i.errors)) {
      const branches = i.errors as Issue[][];
      const shaped = branches.filter(
        (b) => b.length && !b.every((x) => x.path.length === 0 && (x.code === 'invalid_type' || x.code === 'invalid_value')),
      );
      if (shaped.length === 1) return flattenUnions(shaped[0]!, path);
    }
    return [{ path, message: i.message }];
  });
}

export function zodFieldErrors(err: ZodError, where: string): FieldError[] {
  return flattenUnions(err.issues).map((i) => {
    const e: FieldError & { in?: string } = { pointer: '/' + i.path.map(escapePointer).join('/'), detail: i.message };
    if (where !== 'json') e.in = where === 'param' ? 'path' : where;
    return e;
  });
}

export function validationProblem(err: ZodError, where: string): Problem {
  const errors = zodFieldErrors(err, where);
  const detail = errors.map((e) => `${e.pointer === '/' ? '(body)' : e.pointer}: ${e.detail}`).join('; ');
  return problem('validation', detail, { errors });
}
