/** Problem responses (RFC 9457): declared once, spread into every route. */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ProblemSchema } from '../model/jobs.js';
import { problem, type FieldError, type Problem } from '../model/problems.js';

const content = { 'application/problem+json': { schema: ProblemSchema } };
const r = (description: string) => ({ description, content });
const retryAfter = z.object({
  'Retry-After': z
    .string()
    .optional()
    .openapi({ description: 'Seconds to wait before trying again (with `storage-unavailable`)', example: '5' }),
});
const r503 = (description: string) => ({ description, headers: retryAfter, content });

export const errorResponses = {
  400: r('Malformed request (bad JSON)'),
  401: r('Missing or wrong bearer token'),
  413: r('Body larger than 1 MiB'),
  421: r('`misdirected-request`: the `Host` is not one this service answers for (loopback names, NETPLUMB_ALLOWED_HOSTS): DNS rebinding'),
  422: r('Validation failed: `errors[]` holds a JSON pointer per bad field'),
  500: r('Internal error'),
} as const;

export const mutationErrorResponses = {
  ...errorResponses,
  403: r(
    '`forbidden-origin`: a state change sent by a web page on another origin (`Origin`, `Sec-Fetch-Site`) that is not in NETPLUMB_CORS_ORIGINS',
  ),
  404: r('A referenced resource does not exist'),
  409: r('Conflict with the current state, or the same Idempotency-Key still in progress'),
  422: r(
    'Validation failed (`validation`: `errors[]` holds a JSON pointer per bad field), or an SSH private key cannot be used (`unusable-key`)',
  ),
  502: r('A command failed on a host (the job was undone)'),
  503: r503(
    'A host could not be reached (`host-unreachable`, `host-key-mismatch`), or the store cannot save changes right now (`storage-unavailable`, with `Retry-After`; when a job finished but its outcome is not saved yet, with its `jobId`)',
  ),
  504: r('A command timed out on a host'),
} as const;

export const notFoundResponse = { 404: r('No such resource') } as const;

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
  return c.body(JSON.stringify({ ...p, instance: p.instance ?? c.req.path }), p.status as 400, {
    'Content-Type': 'application/problem+json',
  });
}

function escapePointer(seg: PropertyKey): string {
  return String(seg).replaceAll('~', '~0').replaceAll('/', '~1');
}

export function zodFieldErrors(err: ZodError, where: string): FieldError[] {
  return err.issues.map((i) => {
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
