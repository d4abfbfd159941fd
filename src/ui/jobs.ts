/**
 * The job panel: recent jobs, and one job's log streamed live (SSE read with fetch: the token goes in a header).
 * Updates come from polling /jobs every POLL_MS: the jobs after a cursor (the newest seen id: ids sort by time), and
 * each job still queued or running. A job that starts running is followed, unless the user is reading one that
 * still runs. When a job finishes, `onFinished` redraws the page.
 */
import type { z } from '@hono/zod-openapi';
import type { JobView, LogLineSchema } from '../model/jobs.js';
import { getAll, getJson, HttpError, streamEvents } from './api.js';
import { $, fmtTime, h } from './dom.js';

type LogLine = z.infer<typeof LogLineSchema>;

const POLL_MS = 1500;
const FINAL = new Set(['succeeded', 'failed', 'interrupted']);

const jobs = {
  all: new Map<string, JobView>(),
  lastJobId: null as string | null,
  followed: null as { id: string; abort: AbortController; ended: boolean } | null,
  followedByUser: false,
};

export function jobItem(j: JobView): HTMLLIElement {
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', class: 'job', 'data-job': j.id, 'data-status': j.status, onclick: () => follow(j.id, true) },
      h('span', { class: `badge status-${j.status}` }, j.status),
      ` ${j.kind} `,
      h('small', { class: 'principal', title: principalTitle(j) }, `by ${j.principal?.name ?? 'the service'}`),
      ' ',
      h('small', {}, `${fmtTime(j.createdAt)} ${j.id}`),
    ),
  );
}

/** Who asked for the job: a token, a CI identity with the claims it was mapped from, or the service itself. */
function principalTitle(j: JobView): string {
  const p = j.principal;
  if (!p) return 'made by the service (reconcile loop)';
  const claims = p.claims
    ? ` (${Object.entries(p.claims)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`
    : '';
  return `${p.kind} ${p.id}${claims}`;
}

function drawJobs(): void {
  const recent = [...jobs.all.values()].slice(-12).reverse();
  $('job-list').replaceChildren(...(recent.length ? recent.map(jobItem) : [h('li', { class: 'hint' }, 'no jobs yet')]));
  document.querySelectorAll(`#job-list [data-job]`).forEach((e) => {
    if (e.getAttribute('data-job') === jobs.followed?.id) e.setAttribute('aria-current', 'true');
  });
}

/** Streams a job's log into the panel (the whole log, then live lines until its `end` event). */
function follow(id: string, byUser: boolean): void {
  jobs.followed?.abort.abort();
  const abort = new AbortController();
  const followed = { id, abort, ended: false };
  jobs.followed = followed;
  jobs.followedByUser = byUser;
  const log = $('log');
  log.textContent = '';
  $('log-title').textContent = `Log of ${id}`;
  drawJobs();
  const write = (text: string) => {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(text + '\n');
    if (stick) log.scrollTop = log.scrollHeight;
  };
  streamEvents(`/jobs/${encodeURIComponent(id)}/logs`, abort.signal, (e) => {
    if (e.event === 'log') {
      const l = JSON.parse(e.data) as LogLine;
      write(`${fmtTime(l.ts)} ${l.host ?? '-'} ${l.stream.padEnd(6)} ${l.text}`);
    } else if (e.event === 'end') {
      const j = JSON.parse(e.data) as JobView;
      followed.ended = true;
      write(`— ${j.status}${j.error ? `: ${j.error.detail ?? j.error.title}` : ''}`);
      $('log-title').textContent = `Log of ${id} (${j.status})`;
    }
  }).catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') write(`— the log stream stopped: ${(err as Error).message}`);
  });
}

export async function loadJobs(): Promise<void> {
  const all = await getAll<JobView>('/jobs');
  for (const j of all.slice(-200)) jobs.all.set(j.id, j);
  jobs.lastJobId = all.at(-1)?.id ?? null;
  drawJobs();
}

/** One poll: new jobs since the cursor, and the ones still running. True when something finished. */
async function pollJobs(): Promise<boolean> {
  let finished = false;
  let cursor = jobs.lastJobId;
  for (;;) {
    const page = await getJson<{ items: JobView[]; nextCursor: string | null }>(
      `/jobs?limit=500${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`,
    );
    for (const j of page.items) {
      jobs.all.set(j.id, j);
      if (FINAL.has(j.status)) finished = true;
      // A new running job is followed, unless the user picked one to read that is still running.
      else if (!jobs.followed || jobs.followed.ended || !jobs.followedByUser) follow(j.id, false);
      cursor = j.id;
    }
    if (!page.nextCursor) break;
  }
  jobs.lastJobId = cursor;
  const active = [...jobs.all.values()].filter((j) => !FINAL.has(j.status) && !(cursor && j.id > cursor));
  for (const j of active) {
    try {
      const now = await getJson<JobView>(`/jobs/${encodeURIComponent(j.id)}`);
      jobs.all.set(now.id, now);
      if (FINAL.has(now.status)) finished = true;
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) jobs.all.delete(j.id);
      else throw e;
    }
  }
  while (jobs.all.size > 200) jobs.all.delete(jobs.all.keys().next().value!);
  drawJobs();
  return finished;
}

export async function pollLoop(o: { onFinished: () => Promise<void>; status: (text: string) => void }): Promise<void> {
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    // A hidden tab does not poll; the cursor catches up on everything once it is shown again.
    if (document.hidden) continue;
    try {
      if (await pollJobs()) await o.onFinished();
    } catch (e) {
      o.status(`polling /jobs failed: ${(e as Error).message}`);
    }
  }
}
