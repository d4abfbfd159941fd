/** Pieces every resource's routes share: list paging, id params, observe/cascade queries, the router. */
import { z } from '@hono/zod-openapi';
import { OpenAPIHono } from '@hono/zod-openapi';
import { JobSchema } from '../model/jobs.js';
import type { ResourceType } from '../model/names.js';
import { parseRecord } from '../jobs/records.js';
import type { TypedResource } from '../kinds/kind.js';
import type { Store } from '../store/types.js';
import type { AppDeps } from '../deps.js';
import type { Principal } from '../model/principals.js';
import { EXAMPLE_IDS } from '../model/names.js';
import { MAX_KEY_LENGTH } from './idempotency.js';
import { EtagHeaders } from './preconditions.js';
import { problemResponse, validationProblem } from './problems.js';
import { decodeIdCursor, encodeCursor } from './cursor.js';
import { PRINTABLE_PATTERN, REF_PATTERN } from '../model/formats.js';

/** A page cursor as a query parameter: opaque, checked by decodeCursor (400 `invalid-cursor`, not a 422). */
export const CursorParam = z
  .string()
  .max(1024)
  .optional()
  .openapi({
    param: { name: 'cursor', in: 'query' },
    pattern: '^[A-Za-z0-9_-]+$',
    description:
      "the `nextCursor` of this list's previous page (opaque); none for the first page. Another list's cursor, or one made by hand, is a 400 `invalid-cursor`.",
  });

export const ListQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(50)
    .openapi({ param: { name: 'limit', in: 'query' }, example: 50 }),
  cursor: CursorParam,
});

export const IdOrNameParam = z.object({
  idOrName: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: 'idOrName', in: 'path' }, pattern: REF_PATTERN, example: 'docker1' }),
});

/** `{id}` in a path: the resource's id (documented with an id of its kind; a wrong one is a 404, not a 422). */
export function idParam(kind: keyof typeof EXAMPLE_IDS) {
  return z.object({
    id: z
      .string()
      .min(1)
      .max(128)
      .openapi({ param: { name: 'id', in: 'path' }, pattern: REF_PATTERN, example: EXAMPLE_IDS[kind] }),
  });
}

export const ObserveQuery = z.object({
  observe: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ param: { name: 'observe', in: 'query' }, description: 'also read the live state from the host(s) and report drift' }),
});

export const CascadeQuery = z.object({
  cascade: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({
      param: { name: 'cascade', in: 'query' },
      description: 'remove the attachments and tunnels on this bridge first, in the same job',
    }),
});

export const PreferHeader = z.object({
  prefer: z
    .string()
    .max(200)
    .optional()
    .openapi({
      param: { name: 'prefer', in: 'header' },
      pattern: PRINTABLE_PATTERN,
      example: 'wait=30',
      description: '`respond-async` answers 202 at once; `wait=N` waits up to N seconds for the job (default 30)',
    }),
  'idempotency-key': z
    .string()
    .min(1, `Idempotency-Key must be 1-${MAX_KEY_LENGTH} characters`)
    .max(MAX_KEY_LENGTH, `Idempotency-Key must be 1-${MAX_KEY_LENGTH} characters`)
    .regex(new RegExp(PRINTABLE_PATTERN), 'Idempotency-Key must be visible ASCII (and spaces)')
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      example: '6f1c0e0a-seed-bridge-docker1',
      description:
        'Same key + same request → the stored response again, with `Idempotency-Replayed: true` (kept 24 h); same key + another request → 422; while the first still runs → 409',
    }),
});

/** A 201's headers: where the resource made is read from now on (`/hosts/{id}`, …, `/topologies/{name}`), and its version. */
export function createdHeaders(collection: 'hosts' | 'bridges' | 'attachments' | 'tunnels' | 'topologies', kind: keyof typeof EXAMPLE_IDS) {
  return z.object({
    Location: z
      .string()
      .max(160)
      .regex(new RegExp(`^/${collection}/[a-z][a-z0-9_-]*$`))
      .openapi({
        description: collection === 'topologies' ? 'the topology made: `/topologies/{name}`' : `the resource made: \`/${collection}/{id}\``,
        example: collection === 'topologies' ? '/topologies/seed' : `/${collection}/${EXAMPLE_IDS[kind]}`,
      }),
    ETag: EtagHeaders.shape.ETag,
  });
}

export const AcceptedSchema = z.object({ job: JobSchema }).openapi('Accepted');
export const acceptedResponse = {
  202: {
    description: 'The job runs on; poll `Location` (`/jobs/{id}`) or stream its logs',
    headers: z.object({
      Location: z
        .string()
        .max(80)
        .regex(/^\/jobs\/job_[a-z2-7]+$/)
        .openapi({ description: 'the job: `/jobs/{id}`', example: `/jobs/${EXAMPLE_IDS.job}` }),
      'Preference-Applied': z
        .string()
        .max(200)
        .optional()
        .openapi({ pattern: PRINTABLE_PATTERN, description: 'the `Prefer` preferences honoured', example: 'respond-async' }),
    }),
    content: { 'application/json': { schema: AcceptedSchema } },
  },
} as const;

/** A page's `nextCursor`: opaque (api/cursor.ts), for `cursor` on this same list; null on the last page. */
export const NextCursor = z.string().max(1024).nullable().openapi({
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'pass as `cursor` for the next page (opaque); null on the last page',
  example: 'WzEsImhvc3QiLCJob3N0XzIzb2NvcGpsYW50YWN0ZzNuajUyYXVnd3ltIl0',
});

export function listOf<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: NextCursor,
    })
    .openapi(name);
}

/** `principal`: who is calling (api/auth.ts); unset on open paths and for the metrics token. */
export type Env = { Variables: { deps: AppDeps; principal?: Principal } };

/** Every router answers invalid input with a 422 problem carrying JSON pointers. */
export function router(): OpenAPIHono<Env> {
  return new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) return problemResponse(c, validationProblem(result.error, result.target));
      return undefined;
    },
  });
}

/**
 * One page of a resource list, filtered before paging: store pages are read from the cursor on until `limit` items
 * match (or the store has no more), so a page is never short while more matches exist, and nothing is cut off.
 */
export async function pageOf<T extends ResourceType>(
  store: Store,
  type: T,
  q: { limit: number; cursor?: string | undefined },
  opts: { where?: Record<string, string | undefined>; filter?: (r: TypedResource<T>) => boolean } = {},
): Promise<{ items: TypedResource<T>[]; nextCursor: string | null }> {
  const items: TypedResource<T>[] = [];
  let cursor = decodeIdCursor(type, q.cursor);
  const chunk = Math.max(q.limit + 1, 100);
  for (;;) {
    const page = await store.listResources(type, { limit: chunk, cursor, where: opts.where });
    for (const rec of page.items) {
      const r = parseRecord(type, rec);
      if (opts.filter && !opts.filter(r)) continue;
      if (items.length === q.limit) return { items, nextCursor: encodeCursor(type, items[items.length - 1]!.id) };
      items.push(r);
    }
    if (!page.nextCursor) return { items, nextCursor: null };
    cursor = page.nextCursor;
  }
}
