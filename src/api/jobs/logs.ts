/** Job logs: a JSON page, or (Accept: text/event-stream) a live SSE stream resumable with Last-Event-ID. */
import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { streamSSE } from 'hono/streaming';
import { router } from '../common.js';
import { decodeSeqCursor, encodeCursor } from '../cursor.js';
import { ProblemError } from '../../model/problems.js';
import { notFound } from '../../kinds/refs.js';
import { errorResponses, notFoundResponse, statusResponses } from '../problems.js';
import { JobIdParam, JobLogPageSchema, JobLogQuery } from './schema.js';

export const route = createRoute({
  method: 'get',
  path: '/jobs/{id}/logs',
  operationId: 'listJobLogs',
  security: requires('read'),
  tags: ['jobs'],
  summary: 'Read a job log (JSON page, or a live SSE stream)',
  description:
    'As JSON: `limit` lines per page, oldest first; follow `nextCursor` (pass it as `cursor`), or start after a line of your own with `after` (its `seq`). ' +
    'With `Accept: text/event-stream` the log streams live: one `log` event per line (`id` = seq), resumable with `Last-Event-ID`, and a final `end` event whose data is the finished job.',
  request: { params: JobIdParam, query: JobLogQuery },
  responses: statusResponses({
    200: {
      description: 'Log lines after the cursor (or `after`)',
      content: {
        'application/json': { schema: JobLogPageSchema },
        'text/event-stream': { schema: z.string().openapi({ example: 'event: log\nid: 1\ndata: {"seq":1,...}\n\n' }) },
      },
    },
    ...notFoundResponse,
    ...errorResponses,
  }),
});

const DONE = new Set(['succeeded', 'failed', 'interrupted']);

export const app = router().openapi(route, async (c) => {
  const { store, runner } = c.get('deps');
  const id = c.req.valid('param').id;
  const q = c.req.valid('query');
  if (!(await store.getJob(id))) throw notFound('job', id);
  const list = `logs:${id}`;
  if (q.cursor !== undefined && q.after !== undefined)
    throw ProblemError.validation([{ pointer: '/after', in: 'query', detail: 'give `cursor` or `after`, not both' }]);
  const from = decodeSeqCursor(list, q.cursor) ?? q.after ?? 0;

  if (!(c.req.header('accept') ?? '').includes('text/event-stream')) {
    const items = await store.getLogs(id, from, q.limit);
    const last = items[items.length - 1];
    const more = items.length === q.limit;
    return c.json({ items, nextCursor: more && last ? encodeCursor(list, last.seq) : null }, 200);
  }

  const lastEventId = Number(c.req.header('last-event-id'));
  let after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : from;
  return streamSSE(c, async (stream) => {
    // Lines are always read from the store, in seq order; the runner's events only wake the loop.
    // Subscribing before the first read means no line can fall between the two.
    let wake: (() => void) | null = null;
    let dirty = false; // an event arrived since the last read: read again before sleeping
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const offLog = runner.onLog(id, poke);
    const offEnd = runner.onEnd(id, poke);
    // Replicas: the job may run on another replica; its writes are announced through the database.
    const offRemote = runner.onRemoteActivity(id, poke);
    stream.onAbort(poke);
    try {
      for (;;) {
        dirty = false;
        // Read the status before the lines: a job seen done here has written its last line already.
        const done = DONE.has((await store.getJob(id))!.status);
        for (let page = await store.getLogs(id, after, 1000); page.length; page = await store.getLogs(id, after, 1000)) {
          for (const l of page) {
            await stream.writeSSE({ event: 'log', id: String(l.seq), data: JSON.stringify(l) });
            after = l.seq;
          }
          if (stream.aborted) return;
        }
        if (done) {
          await stream.writeSSE({ event: 'end', data: JSON.stringify(await store.getJob(id)) });
          return;
        }
        if (dirty) continue;
        let timer: NodeJS.Timeout | undefined;
        const woken = await new Promise<boolean>((r) => {
          wake = () => r(true);
          timer = setTimeout(() => r(false), 15_000);
        });
        clearTimeout(timer);
        wake = null;
        if (stream.aborted) return;
        if (!woken) await stream.write(': keep-alive\n\n');
      }
    } finally {
      offLog();
      offEnd();
      offRemote();
    }
  });
});
