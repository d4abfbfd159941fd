import { z } from '@hono/zod-openapi';
import { EXAMPLE_IDS, idSchema, resourceIdPattern } from './names.js';

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://netplumb.dev/problems/validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    jobId: idSchema('job', 'the job that failed').optional(),
    errors: z.array(z.object({ in: z.string().optional(), pointer: z.string(), detail: z.string() })).optional(),
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
    since: z.string().openapi({ description: 'when the wait began' }),
    boundMs: z.number().int().openapi({ description: 'how long it may last before the job fails with a `timeout` problem naming it' }),
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
    progress: z.object({ done: z.number().int(), total: z.number().int() }),
    error: z.union([ProblemSchema, z.null()]),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
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
  })
  .openapi('Job');
export type JobView = z.infer<typeof JobSchema>;

export const LogLineSchema = z
  .object({
    seq: z.number().int(),
    ts: z.string(),
    host: z.string().nullable(),
    stream: z.enum(['cmd', 'stdout', 'stderr', 'info', 'error']),
    text: z.string(),
    exitCode: z.number().int().optional(),
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
  };
}
