/** Every problem the API answers (thrown, stored with a job, replayed) goes out with every string redacted. */
import type { MiddlewareHandler } from 'hono';
import type { Redactor } from '../redact.js';

export function redactProblems(redactor: Redactor): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (!redactor.size || !(c.res.headers.get('content-type') ?? '').includes('application/problem+json')) return;
    const text = await c.res.clone().text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return;
    }
    const clean = JSON.stringify(redactor.deep(body));
    if (clean === text) return;
    const headers = new Headers(c.res.headers);
    headers.delete('content-length');
    const status = c.res.status;
    // Unset first: assigning over a response merges the old headers back in.
    c.res = undefined;
    c.res = new Response(clean, { status, headers });
  };
}
