/** Job logs: a JSON page, or (Accept: text/event-stream) a live SSE stream resumable with Last-Event-ID. */
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { LogLine } from '../../store/types.js';
import { router } from '../common.js';
import { notFound } from '../mutation.js';
import { errorResponses, notFoundResponse } from '../problems.js';
import { JobIdParam, JobLogPageSchema, JobLogQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs/{id}/logs',
  tags: ['jobs'],
  summary: 'Read a job log (JSON page, or a live SSE stream)',
  description:
    'With `Accept: text/event-stream` the log streams live: one `log` event per line (`id` = seq), resumable with `Last-Event-ID`, and a final `end` event whose data is the finished job.',
  request: { params: JobIdParam, query: JobLogQuery },
  responses: {
    200: {
      description: 'Log lines after `after`',
      content: {
        'application/json': { schema: JobLogPageSchema },
        'text/event-stream': { schema: z.string().openapi({ example: 'event: log\nid: 1\ndata: {"seq":1,...}\n\n' }) },
      },
    },
    ...notFoundResponse,
    ...errorResponses,
  },
});

const DONE = new Set(['succeeded', 'failed', 'interrupted']);

export const app = router().openapi(route, async (c) => {
  const { store, runner } = c.get('deps');
  const id = c.req.valid('param').id;
  const q = c.req.valid('query');
  if (!store.getJob(id)) throw notFound('job', id);

  if (!(c.req.header('accept') ?? '').includes('text/event-stream')) {
    const items = store.getLogs(id, q.after, q.limit);
    const last = items[items.length - 1];
    const more = items.length === q.limit;
    return c.json({ items, nextCursor: more && last ? String(last.seq) : null }, 200);
  }

  const lastEventId = Number(c.req.header('last-event-id'));
  let after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : q.after;
  return streamSSE(c, async (stream) => {
    // Subscribe first, then read the backlog: no line falls between the two.
    const queue: LogLine[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const offLog = runner.onLog(id, (l) => { queue.push(l); wake?.(); });
    const offEnd = runner.onEnd(id, () => { ended = true; wake?.(); });
    stream.onAbort(() => { ended = true; wake?.(); });
    try {
      const send = async (l: LogLine) => {
        if (l.seq <= after) return;
        after = l.seq;
        await stream.writeSSE({ event: 'log', id: String(l.seq), data: JSON.stringify(l) });
      };
      for (;;) {
        for (const l of store.getLogs(id, after, 1000)) await send(l);
        while (queue.length) await send(queue.shift()!);
        const job = store.getJob(id)!;
        if (DONE.has(job.status) || (ended && !runner.isRunning(id))) {
          for (const l of store.getLogs(id, after, 100_000)) await send(l);
          await stream.writeSSE({ event: 'end', data: JSON.stringify(store.getJob(id)) });
          return;
        }
        if (stream.aborted) return;
        await new Promise<void>((r) => { wake = r; setTimeout(r, 15_000); });
        wake = null;
        if (stream.aborted) return;
        if (!queue.length && !ended) await stream.write(': keep-alive\n\n');
      }
    } finally {
      offLog();
      offEnd();
    }
  }) as never;
});
