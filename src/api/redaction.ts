/** Every problem the API answers (thrown, stored with a job, replayed) goes out with every string redacted. */
import type { MiddlewareHandler } from 'hono';
import type { Redactor } from '../redact.js';

export function redactProblems(redactor: Redactor): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (!redactor.size || !(c.res.headers.get('content-type') ?? '').includes('application/problem+json')) return;
    // The headers first: reading the body makes a lightweight (@hono/node-server) response again from what it was
    // made with, and a header set on it since then would be lost (see problemResponse). So it is always remade here.
    const headers = new Headers(c.res.headers);
    headers.delete('content-length');
    const status = c.res.status;
    const text = await c.res.clone().text();
    let clean = text;
    try {
      clean = JSON.stringify(redactor.deep(JSON.parse(text)));
    } catch {
      // not JSON after all: sent as it is
    }
    // Unset first: assigning over a response merges the old headers back in.
    c.res = undefined;
    c.res = new Response(clean, { status, headers });
  };
}
