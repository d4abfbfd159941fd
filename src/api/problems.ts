/** Problem responses (RFC 9457): declared once, spread into every route. */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ProblemSchema } from '../model/jobs.js';
import { problem, type FieldError, type Problem } from '../model/problems.js';

const content = { 'application/problem+json': { schema: ProblemSchema } };
const r = (description: string) => ({ description, content });
const retryAfter = z.object({
  'Retry-After': z.string().optional().openapi({
    description:
      'Seconds to wait before trying again (with `storage-unavailable`, or `host-unreachable` for a host that failed its last probe)',
    example: '5',
  }),
});
const r503 = (description: string) => ({ description, headers: retryAfter, content });
const storageUnavailable = '`storage-unavailable`: the store cannot be used right now; try again after `Retry-After` seconds';

/** What any route can answer, whatever it does. */
export const errorResponses = {
  400: r('`malformed-json` (a body that is not JSON) or `bad-request`'),
  401: {
    description: '`unauthorized`: missing or wrong bearer token (when the service has one)',
    headers: z.object({ 'WWW-Authenticate': z.string().openapi({ example: 'Bearer realm="netplumb"' }) }),
    content,
  },
  413: r('`payload-too-large`: body larger than the limit (1 MiB by default)'),
  421: r('`misdirected-request`: the `Host` is not one this service answers for (loopback names, NETPLUMB_ALLOWED_HOSTS): DNS rebinding'),
  422: r('`validation`: `errors[]` holds a JSON pointer (and `in`: path, query or header, when not in the body) per bad field'),
  500: r('`internal`: an unexpected error'),
  503: r503(storageUnavailable),
} as const;

export const mutationErrorResponses = {
  ...errorResponses,
  403: r(
    '`forbidden-origin`: a state change sent by a web page on another origin (`Origin`, `Sec-Fetch-Site`) that is not in NETPLUMB_CORS_ORIGINS',
  ),
  404: r('`not-found` (a referenced resource does not exist) or `container-not-found`'),
  409: r(
    '`conflict` with the current state, `container-not-running`, or `idempotency-in-progress` (the first request with this Idempotency-Key still runs)',
  ),
  422: r(
    '`validation` (`errors[]` holds a JSON pointer per bad field), `idempotency-key-reused` (the key came with another request), or `unusable-key` (an SSH private key that cannot be used)',
  ),
  500: r('`internal`, or `job-interrupted` (the service stopped while the job ran)'),
  502: r('`command-failed`: a command failed on a host (the job was undone)'),
  503: r503(
    'A host could not be reached (`host-unreachable`, `host-key-mismatch`), or ' +
      storageUnavailable +
      ' (when a job finished but its outcome is not saved yet, with its `jobId`)',
  ),
  504: r(
    '`command-timeout`: a command timed out on a host; `dhcp-no-lease`: no DHCP server on the segment answered within the bound (the job was undone)',
  ),
} as const;

/** A request body's media type the route does not take (the mutations' bodies are JSON; topologies also YAML). */
export const bodyErrorResponses = {
  415: r('`unsupported-media-type`: the body is not in a media type the operation takes'),
} as const;

/** Reading live state from hosts outside a job (`observe=true`) can fail as a job's commands do. */
export const observeErrorResponses = {
  502: r('observe=true and a command failed on a host (`command-failed`)'),
  503: r503('observe=true and a host cannot be reached (`host-unreachable`, `host-key-mismatch`), or ' + storageUnavailable),
  504: r('observe=true and a command timed out on a host (`command-timeout`)'),
} as const;

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

export function problemResponse(c: Context, p: Problem): Response {
  // A retryable problem (a host that did not answer) says when to try again.
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (typeof p.retryAfter === 'number') headers['Retry-After'] = String(p.retryAfter);
  return c.body(JSON.stringify({ ...p, instance: p.instance ?? c.req.path }), p.status as 400, headers);
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
