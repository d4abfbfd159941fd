import { z } from '@hono/zod-openapi';
import { EXAMPLE_IDS, idSchema, resourceIdPattern } from './names.js';
import { StoreHealthSchema } from './health.js';
import { PROBLEM_BASE, ProblemTypes } from './problems.js';
import { Timestamp } from './formats.js';
import { PrincipalRefSchema } from './principals.js';

/** Every problem type the service answers with (model/problems.ts), for the document's enum. */
const PROBLEM_TYPE_URIS = Object.keys(ProblemTypes).map((k) => PROBLEM_BASE + k);

const HostName = z.string().max(63).openapi({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' });
const Fingerprint = z.string().max(60).openapi({ pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$' });

/**
 * RFC 9457 problem details, and the extension members netplumb's problems carry (each only where it applies). `type`
 * is read as any string (a stored job's error may be older than this version) but declared as the enum of the types
 * this version answers with, so clients can switch on it.
 */
export const ProblemSchema = z
  .object({
    type: z.string().max(200).openapi({ enum: PROBLEM_TYPE_URIS, example: 'https://netplumb.dev/problems/validation' }),
    title: z.string().max(200),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    instance: z
      .string()
      .max(2048)
      .optional()
      .openapi({ pattern: '^/', description: 'the request path the problem answered (secrets in it redacted)' }),
    jobId: idSchema(
      'job',
      'a job this problem is about: the one that failed (with `jobStatus`), or the one a resource or an Idempotency-Key waits for',
    ).optional(),
    jobStatus: z.enum(['failed', 'interrupted']).optional().openapi({
      description: 'present when this problem is the outcome of the job `jobId` (it failed, or the service stopped while it ran)',
    }),
    errors: z
      .array(
        z.object({
          in: z.enum(['body', 'path', 'query', 'header']).optional().openapi({ description: 'where the field is, when not in the body' }),
          pointer: z.string().max(1024).openapi({ description: 'a JSON pointer (RFC 6901) to the field' }),
          detail: z.string(),
        }),
      )
      .optional()
      .openapi({ description: 'one entry per bad field (`validation`, `invalid-cursor`, some conflicts)' }),
    retryAfter: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .optional()
      .openapi({ description: 'seconds after which trying again can help; the answer says it in `Retry-After` too' }),
    host: HostName.optional().openapi({ description: 'the host that failed or is concerned (by name)' }),
    existing: z
      .string()
      .max(64)
      .regex(resourceIdPattern)
      .optional()
      .openapi({ description: '`conflict`: the resource that already exists' }),
    etag: z
      .string()
      .max(100)
      .nullable()
      .optional()
      .openapi({ description: '`precondition-failed`: the ETag the resource is at now (null: it does not exist)' }),
    command: z.string().max(256).optional().openapi({ description: '`command-failed`: the program that failed' }),
    exitCode: z.number().int().min(-1).max(255).optional().openapi({ description: '`command-failed`: its exit status' }),
    container: z
      .string()
      .max(128)
      .optional()
      .openapi({ description: '`container-not-found`, `container-not-running`: the container asked for' }),
    expected: Fingerprint.optional().openapi({ description: '`host-key-mismatch`: the pinned host key' }),
    actual: Fingerprint.optional().openapi({ description: '`host-key-mismatch`: the key the host showed' }),
    waiting: z
      .lazy(() => JobWaitSchema)
      .optional()
      .openapi({ description: '`timeout`: the wait that ran past its bound' }),
    store: StoreHealthSchema.optional().openapi({ description: '`storage-unavailable` (from /readyz): how the store fails' }),
    allowed: z
      .array(z.string().max(10))
      .max(10)
      .optional()
      .openapi({ description: '`method-not-allowed`: the methods the path takes (as `Allow`)' }),
    acceptable: z
      .array(z.string().max(100))
      .max(20)
      .optional()
      .openapi({ description: '`not-acceptable`: the media types the operation answers with' }),
    missing: z
      .object({
        scope: z.enum(['read', 'write', 'hosts', 'admin']).optional(),
        topology: z.string().max(64).optional(),
        hostLabel: z.string().max(320).optional(),
      })
      .optional()
      .openapi({
        description: '`forbidden`: what the principal lacks: a scope, or the reach of its restrictions (a topology name, a host label)',
      }),
  })
  .catchall(z.unknown())
  .openapi('Problem', { description: 'RFC 9457 problem details' });

export const JobStatusSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'interrupted']);

export const JobWaitSchema = z
  .object({
    kind: z.enum(['lock', 'channel', 'connection', 'docker', 'batch']).openapi({
      description:
        'lock: its host locks (behind other jobs); channel: a channel slot on the SSH connection; connection: connecting to the host; docker: a Docker API lookup; batch: commands running on the host',
    }),
    detail: z.string().openapi({ example: 'a batch of 6 step(s) on docker1' }),
    host: z.string().nullable(),
    since: Timestamp.openapi({ description: 'when the wait began' }),
    boundMs: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .openapi({ description: 'how long it may last before the job fails with a `timeout` problem naming it' }),
  })
  .openapi('JobWait');

export const JobSchema = z
  .object({
    id: idSchema('job'),
    kind: z.string().openapi({ example: 'attachment.create' }),
    status: JobStatusSchema,
    resource: z.object({
      type: z.string().openapi({ example: 'attachment' }),
      id: z.string().regex(resourceIdPattern).openapi({ example: EXAMPLE_IDS.attachment }),
    }),
    hosts: z.array(z.string()),
    progress: z.object({ done: z.number().int().min(0).max(2_147_483_647), total: z.number().int().min(0).max(2_147_483_647) }),
    error: z.union([ProblemSchema, z.null()]),
    createdAt: Timestamp,
    startedAt: Timestamp.nullable(),
    finishedAt: Timestamp.nullable(),
    waiting: z.array(JobWaitSchema).optional().openapi({
      description:
        'What the job is waiting for right now (queued or running, shown by the replica that runs it): a lock and its holders, a channel, a Docker lookup, a batch on a host since a time. Every wait is bounded.',
    }),
    traceId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .nullable()
      .openapi({
        description:
          'The W3C trace id the job belongs to: the `traceparent` of the request that made it (or a new trace). It is in the `traceparent` and `X-Trace-Id` response headers, and in every service log line about the job.',
        example: '4bf92f3577b34da6a3ce929d0e0e4736',
      }),
    principal: PrincipalRefSchema.nullable().openapi({
      description: "Who asked for the job (filter with `GET /jobs?principal=<id>`); null for the service's own jobs (the reconcile loop)",
    }),
  })
  .openapi('Job');
export type JobView = z.infer<typeof JobSchema>;

export const LogLineSchema = z
  .object({
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    ts: Timestamp,
    host: z.string().nullable(),
    stream: z.enum(['cmd', 'stdout', 'stderr', 'info', 'error']),
    text: z.string(),
    exitCode: z.number().int().min(-1).max(255).optional(),
    ms: z.number().optional(),
  })
  .openapi('JobLogLine');

/** A job as the jobs layer keeps it (structurally: the model does not know the store). */
export interface JobLike {
  id: string;
  kind: string;
  status: string;
  resource: { type: string; id: string };
  hosts: string[];
  progress: { done: number; total: number };
  error: { [key: string]: unknown } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  traceId?: string | null;
  principal?: { [key: string]: unknown } | null;
}

export type JobWait = z.infer<typeof JobWaitSchema>;

/** The API view of a job: status and error parsed, so a malformed row fails here, loudly, not in a client. */
export function renderJob(j: JobLike, waiting?: JobWait[] | null): JobView {
  return {
    ...(waiting && (j.status === 'queued' || j.status === 'running')
      ? { waiting: waiting.map((w) => ({ ...w, boundMs: Math.round(w.boundMs) })) }
      : {}),
    id: j.id,
    kind: j.kind,
    status: JobStatusSchema.parse(j.status),
    resource: { ...j.resource },
    hosts: [...j.hosts],
    progress: { ...j.progress },
    error: j.error === null ? null : ProblemSchema.parse(j.error),
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    traceId: j.traceId ?? null,
    principal: j.principal ? PrincipalRefSchema.parse(j.principal) : null,
  };
}
