/**
 * Optimistic concurrency over HTTP (RFC 9110 §8.8.3, §13): every resource and topology answer carries an `ETag` naming
 * the record's version, and `PATCH`, `DELETE` and `PUT /topologies/{name}` take `If-Match` (the change applies only to
 * the version the client read) and `If-None-Match: *` (create only). A failed precondition is a 412
 * `precondition-failed` and no job.
 *
 * The ETag is `"<id>.<version>"`: the record's id and its version, which every write of the record increments. It
 * validates the stored record (what the resource is asked to be, its state and job), whatever the answer's format;
 * live facts read from the hosts (`observe=true`) are not part of it. A record deleted and made again under the same
 * name (a topology) has a new id, so an old ETag never matches it.
 */
import { z } from '@hono/zod-openapi';
import { ProblemError } from '../model/problems.js';

/** What an ETag is made of: a record's id and version. */
export interface Versioned {
  id: string;
  version: number;
}

export const etagOf = (r: Versioned): string => `"${r.id}.${r.version}"`;

const ENTITY_TAG = String.raw`(?:W/)?"[\x21\x23-\x7e]*"`;
/** `*`, or one or more entity tags separated by commas (RFC 9110 §13.1.1). */
const ENTITY_TAG_LIST = new RegExp(String.raw`^\s*(?:\*|${ENTITY_TAG}(?:\s*,\s*${ENTITY_TAG})*)\s*$`);

type EntityTags = '*' | { tag: string; weak: boolean }[];

function parseTags(value: string | undefined): EntityTags | null {
  if (value === undefined) return null;
  if (value.trim() === '*') return '*';
  return [...value.matchAll(/(W\/)?("[^"]*")/g)].map((m) => ({ tag: m[2]!, weak: m[1] !== undefined }));
}

const ETAG_EXAMPLE = '"br_01hzy3k9qk4t2v7x8w6e5r4m3n.3"';

/** The ETag header an answer carries (declared on every resource and topology answer). */
export const EtagHeaders = z.object({
  ETag: z
    .string()
    .max(100)
    .regex(/^"[a-z][a-z0-9_-]*\.\d+"$/)
    .openapi({
      description: "the record's version (strong; send it back in `If-Match` to change only what you read)",
      example: ETAG_EXAMPLE,
    }),
});

const ifMatch = z
  .string()
  .max(1024)
  .regex(ENTITY_TAG_LIST, 'If-Match must be * or entity tags ("…") separated by commas')
  .optional()
  .openapi({
    param: { name: 'if-match', in: 'header' },
    example: ETAG_EXAMPLE,
    description:
      'Change only if the record is still at this ETag (from a GET or a mutation answer); otherwise 412 `precondition-failed` and no job. `*`: only if it exists.',
  });

/** If-Match, for PATCH and DELETE. */
export const IfMatchHeader = z.object({ 'if-match': ifMatch });

/** If-Match and If-None-Match, for PUT (a topology: `If-None-Match: *` creates only). */
export const ConditionalPutHeaders = z.object({
  'if-match': ifMatch,
  'if-none-match': z
    .string()
    .max(1024)
    .regex(ENTITY_TAG_LIST, 'If-None-Match must be * or entity tags ("…") separated by commas')
    .optional()
    .openapi({
      param: { name: 'if-none-match', in: 'header' },
      example: '*',
      description:
        '`*`: create only; 412 `precondition-failed` (and no job) when it exists already. An ETag: only if the record is not at it.',
    }),
});

/** The preconditions a request carries. */
export interface Conditions {
  ifMatch: EntityTags | null;
  ifNoneMatch: EntityTags | null;
}

export const NO_CONDITIONS: Conditions = { ifMatch: null, ifNoneMatch: null };

/** The request's If-Match / If-None-Match (already checked against the route's header schema). */
export function conditionsOf(c: { req: { header(name: string): string | undefined } }): Conditions {
  return { ifMatch: parseTags(c.req.header('if-match')), ifNoneMatch: parseTags(c.req.header('if-none-match')) };
}

/**
 * Throws 412 `precondition-failed` unless the request's preconditions hold for the record as it is now (null: there is
 * none). If-Match compares strongly (a weak tag never matches), If-None-Match weakly (RFC 9110 §13.2.2).
 */
export function requirePreconditions(conditions: Conditions, current: Versioned | null, what: string): void {
  const etag = current ? etagOf(current) : null;
  const { ifMatch, ifNoneMatch } = conditions;
  if (ifMatch !== null) {
    const holds = ifMatch === '*' ? etag !== null : etag !== null && ifMatch.some((t) => !t.weak && t.tag === etag);
    if (!holds)
      throw new ProblemError(
        'precondition-failed',
        etag === null
          ? `${what} does not exist (If-Match: ${describe(ifMatch)}); nothing was changed`
          : `${what} is at ${etag}, not ${describe(ifMatch)}: it changed since it was read; nothing was changed (GET it again)`,
        { etag },
      );
  }
  if (ifNoneMatch !== null && etag !== null) {
    const matches = ifNoneMatch === '*' || ifNoneMatch.some((t) => t.tag === etag);
    if (matches)
      throw new ProblemError(
        'precondition-failed',
        ifNoneMatch === '*'
          ? `${what} exists already (If-None-Match: *); nothing was changed`
          : `${what} is at ${etag} (If-None-Match); nothing was changed`,
        { etag },
      );
  }
}

const describe = (tags: EntityTags) => (tags === '*' ? '*' : tags.map((t) => (t.weak ? `W/${t.tag}` : t.tag)).join(', '));
