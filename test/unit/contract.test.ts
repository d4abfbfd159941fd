/** The response check every API test runs through (test/helpers/contract.ts) catches what it is there to catch. */
import { describe, expect, it } from 'vitest';
import { contractMismatches } from '../helpers/contract.js';
import { EXAMPLE_IDS } from '../../src/model/names.js';

const problem = { type: 'https://netplumb.dev/problems/not-found', title: 'Not found', status: 404, detail: 'no host x' };
const asJson = (body: unknown, status = 200, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });

describe('response contract check', () => {
  it('passes answers as declared: a problem, a page, a bodiless 204', async () => {
    expect(await contractMismatches('GET', 'http://localhost/hosts/x', asJson(problem, 404, 'application/problem+json'))).toEqual([]);
    expect(await contractMismatches('GET', 'http://localhost/jobs/j/logs', asJson({ items: [], nextCursor: null }))).toEqual([]);
    expect(await contractMismatches('DELETE', 'http://localhost/tunnels/t', new Response(null, { status: 204 }))).toEqual([]);
  });

  it('flags an undeclared status, an undeclared media type, a body off its schema, a missing required header', async () => {
    const [status] = await contractMismatches('GET', 'http://localhost/hosts', asJson(problem, 418, 'application/problem+json'));
    expect(status).toMatch(/GET \/hosts \(listHosts\) → 418: status not declared/);
    const [media] = await contractMismatches('GET', 'http://localhost/hosts/x', asJson(problem, 404));
    expect(media).toMatch(/Content-Type application\/json not declared/);
    const [schema] = await contractMismatches('GET', 'http://localhost/jobs/j/logs', asJson({ items: [], nextCursor: 200 }));
    expect(schema).toMatch(/\/nextCursor must be string/);
    const job = {
      id: 'job_01kb2xk3a7wqp4fmz3hyd2n6', // the old examples' id: 0 and 1 are not base32
      kind: 'host.create',
      status: 'succeeded',
      resource: { type: 'host', id: EXAMPLE_IDS.host },
      hosts: [EXAMPLE_IDS.host],
      progress: { done: 1, total: 1 },
      error: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      startedAt: null,
      finishedAt: null,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      principal: { kind: 'token', id: EXAMPLE_IDS.token, name: 'ci' },
    };
    expect(await contractMismatches('GET', 'http://localhost/jobs/j', asJson({ ...job, id: EXAMPLE_IDS.job }))).toEqual([]);
    const [id] = await contractMismatches('GET', 'http://localhost/jobs/j', asJson(job));
    expect(id).toMatch(/: \/id must match pattern/);
    const accepted = asJson({ job: { id: EXAMPLE_IDS.job } }, 202);
    expect((await contractMismatches('POST', 'http://localhost/hosts', accepted)).join('\n')).toMatch(/required header Location missing/);
  });

  it('flags a Content-Type (or a body) on an answer declared without content', async () => {
    const plain = new Response(null, { status: 204, headers: { 'Content-Type': 'text/plain; charset=UTF-8' } });
    expect(await contractMismatches('DELETE', 'http://localhost/bridges/b', plain)).toEqual([
      'DELETE /bridges/b (deleteBridge) → 204: declares no content, answered Content-Type: text/plain; charset=UTF-8',
    ]);
  });

  it('leaves alone what the document does not describe, and does not consume the response', async () => {
    const res = asJson({ status: 'ok' });
    expect(await contractMismatches('GET', 'http://localhost/ui/app.js', res)).toEqual([]);
    expect(await contractMismatches('POST', 'http://localhost/nothing/here', res)).toEqual([]);
    const page = asJson({ items: [], nextCursor: null });
    await contractMismatches('GET', 'http://localhost/jobs', page);
    expect(await page.json()).toEqual({ items: [], nextCursor: null });
  });

  it('a method the document does not declare for a path it does: 405 with exactly the declared methods in Allow', async () => {
    const problem = (status: number, allow?: string) =>
      new Response(JSON.stringify({ type: 'x', title: 't', status, detail: 'd' }), {
        status,
        headers: { 'Content-Type': 'application/problem+json', ...(allow ? { Allow: allow } : {}) },
      });
    expect(await contractMismatches('PUT', 'http://localhost/hosts', problem(405, 'GET, HEAD, POST'))).toEqual([]);
    expect((await contractMismatches('PUT', 'http://localhost/hosts', problem(405, 'GET'))).join('\n')).toMatch(/Allow is "GET"/);
    expect((await contractMismatches('PUT', 'http://localhost/hosts', problem(404))).join('\n')).toMatch(/must answer 405/);
    // Refused before routing (no token): not a method question.
    expect(await contractMismatches('PUT', 'http://localhost/hosts', problem(401))).toEqual([]);
  });

  it("checks a declared header's value, and a problem's retryAfter against Retry-After", async () => {
    const p = { type: 'https://netplumb.dev/problems/storage-unavailable', title: 't', status: 503, detail: 'd', retryAfter: 5 };
    const answer = (headers: Record<string, string>) =>
      new Response(JSON.stringify(p), { status: 503, headers: { 'Content-Type': 'application/problem+json', ...headers } });
    expect(await contractMismatches('GET', 'http://localhost/hosts', answer({ 'Retry-After': '5' }))).toEqual([]);
    expect((await contractMismatches('GET', 'http://localhost/hosts', answer({ 'Retry-After': 'soon' }))).join('\n')).toMatch(
      /header Retry-After: "soon" does not match its schema/,
    );
    expect((await contractMismatches('GET', 'http://localhost/hosts', answer({ 'Retry-After': '7' }))).join('\n')).toMatch(
      /retryAfter is 5, Retry-After is 7/,
    );
  });
});
