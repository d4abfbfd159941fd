/** The page's API client: same-origin fetches with the bearer token from session storage (never in a URL). */

const TOKEN_KEY = 'netplumb.token';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; detail?: string; type?: string } | null,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Called on a 401: asks for a token; resolves once one is set (then the request is retried). */
let onUnauthorized: (reason: string) => Promise<void> = () => Promise.reject(new Error('unauthorized'));
export function setUnauthorizedHandler(h: (reason: string) => Promise<void>): void {
  onUnauthorized = h;
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const t = token.get();
  return { ...extra, ...(t ? { Authorization: `Bearer ${t}` } : {}) };
}

/** GET a JSON answer; a 401 asks for the token and tries again. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  for (;;) {
    const res = await fetch(path, { headers: authHeaders({ Accept: 'application/json' }), signal: signal ?? null });
    if (res.status === 401) {
      await onUnauthorized(token.get() ? 'the token was refused' : 'this service needs a token');
      continue;
    }
    if (!res.ok) {
      const p = (await res.json().catch(() => null)) as HttpError['problem'];
      throw new HttpError(res.status, p);
    }
    return (await res.json()) as T;
  }
}

/** Every item of a paged list (`items` + `nextCursor`). */
export async function getAll<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: { items: T[]; nextCursor: string | null } = await getJson(
      `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/** Splits a server-sent event stream into events, whatever the chunk boundaries (text/event-stream framing). */
export class SseParser {
  private buf = '';
  push(text: string): SseEvent[] {
    this.buf += text;
    const out: SseEvent[] = [];
    for (let m = /\r\n\r\n|\n\n|\r\r/.exec(this.buf); m; m = /\r\n\r\n|\n\n|\r\r/.exec(this.buf)) {
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const e: SseEvent = { event: 'message', data: '', id: null };
      const data: string[] = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (!line || line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') e.event = v;
        else if (field === 'data') data.push(v);
        else if (field === 'id') e.id = v;
      }
      if (!data.length) continue; // a comment (keep-alive) or an event without data
      e.data = data.join('\n');
      out.push(e);
    }
    return out;
  }
}

/**
 * A server-sent event stream read with fetch (EventSource cannot send an Authorization header). Resolves when the
 * stream ends; rejects with an AbortError when `signal` aborts.
 */
export async function streamEvents(path: string, signal: AbortSignal, onEvent: (e: SseEvent) => void): Promise<void> {
  for (;;) {
    const res = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }), signal });
    if (res.status === 401) {
      await onUnauthorized('the token was refused');
      continue;
    }
    if (!res.ok || !res.body) throw new HttpError(res.status, (await res.json().catch(() => null)) as HttpError['problem']);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value).forEach(onEvent);
    }
  }
}
