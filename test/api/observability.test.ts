/**
 * Metrics, logs and trace ids through the API on fake hosts: /metrics behind the token (or the metrics token only),
 * counters that match what happened, label sets that do not grow with resources, a traceparent carried to the job
 * and its log lines, JSON log lines without secrets.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { createObservability } from '../../src/observability/index.js';
import { FaultyStore } from '../helpers/faulty-store.js';

const TOKEN = 'obs-test-token-0123456789abcdef';
const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

/** An app whose service log is captured as lines. */
async function observedApp(config: Parameters<typeof testApp>[0] = {}) {
  const lines: string[] = [];
  const obs = createObservability({ logLevel: 'debug', logOut: { write: (l: string) => void lines.push(l) } });
  const t = await testApp({ token: TOKEN, obs, ...config });
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ...t, obs, lines, logs };
}

/** `name{labels} value` lines of the exposition text, comments left out. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(t: Awaited<ReturnType<typeof observedApp>>, token = TOKEN) {
  const r = await t.app.request('/metrics', { headers: { Authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return samples(await r.text());
}

describe('GET /metrics', () => {
  it('needs the token (401 without it); NETPLUMB_METRICS_TOKEN opens /metrics and nothing else', async () => {
    const t = await observedApp({ config: { metricsToken: METRICS_TOKEN } });
    const none = await t.app.request('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="netplumb"');
    expect((await t.app.request('/metrics', { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    await scrape(t, TOKEN);
    await scrape(t, METRICS_TOKEN);
    expect((await t.app.request('/hosts', { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(401);
  });

  it('counts requests by route template, jobs by kind and outcome, batches and commands per host as they happened', async () => {
    const t = await observedApp();
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' })).status).toBe(201);
    t.world.on((argv) => (argv[0] === 'ip' && argv[2] === 'replace' ? { exitCode: 2, stderr: 'Error: boom' } : undefined));
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br1', addresses: ['10.0.0.1/24'] })).status).toBe(502);
    expect((await t.json('GET', '/bridges/docker1/br0')).status).toBe(200);
    expect((await t.json('GET', '/bridges/docker1/nope')).status).toBe(404);
    const m = await scrape(t);
    expect(m.get('netplumb_jobs_total{kind="host.create",outcome="succeeded"}')).toBe(1);
    expect(m.get('netplumb_jobs_total{kind="bridge.create",outcome="succeeded"}')).toBe(1);
    expect(m.get('netplumb_jobs_total{kind="bridge.create",outcome="failed"}')).toBe(1);
    expect(m.get('netplumb_job_duration_seconds_count{kind="bridge.create",outcome="failed"}')).toBe(1);
    expect(m.get('netplumb_http_request_duration_seconds_count{method="POST",route="/bridges",status="201"}')).toBe(1);
    expect(m.get('netplumb_http_request_duration_seconds_count{method="POST",route="/bridges",status="502"}')).toBe(1);
    // GETs by name are counted under their route template: the names as sent never become labels.
    expect(m.get('netplumb_http_request_duration_seconds_count{method="GET",route="/bridges/:host/:name",status="200"}')).toBe(1);
    expect(m.get('netplumb_http_request_duration_seconds_count{method="GET",route="/bridges/:host/:name",status="404"}')).toBe(1);
    expect((await t.json('GET', '/no/such/route')).status).toBe(404);
    expect([...m.keys()].some((k) => k.includes('br0') || k.includes('nope'))).toBe(false);
    expect((await scrape(t)).get('netplumb_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}')).toBe(1);
    const batches = t.world.batches.filter((b) => b.host === 'docker1');
    expect(m.get('netplumb_host_batches_total{host="docker1"}')).toBe(batches.length);
    expect(m.get('netplumb_host_commands_total{host="docker1"}')).toBe(batches.reduce((n, b) => n + b.steps, 0));
    expect(m.get('netplumb_host_batch_duration_seconds_count{host="docker1"}')).toBe(batches.length);
    expect(m.get('netplumb_host_reachable{host="docker1"}')).toBe(1);
    expect(m.get('netplumb_host_last_probe_age_seconds{host="docker1"}')).toBeLessThan(60);
    expect(m.get('netplumb_jobs_running')).toBe(0);
    expect(m.get('netplumb_jobs_queued')).toBe(0);
    expect(m.get('netplumb_store_writable')).toBe(1);
    expect(m.get('netplumb_store_call_duration_seconds_count{op="insertJob"}')).toBe(3);
  });

  it('counts Idempotency-Key replays and conflicts', async () => {
    const t = await observedApp();
    await t.json('POST', '/hosts', localHost('docker1'));
    const key = { 'Idempotency-Key': 'k-1' };
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, key)).status).toBe(201);
    const again = await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, key);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'other' }, key)).status).toBe(422);
    const m = await scrape(t);
    expect(m.get('netplumb_idempotency_replays_total')).toBe(1);
    expect(m.get('netplumb_idempotency_conflicts_total{reason="reused"}')).toBe(1);
  });

  it('answers while the store refuses writes: store_writable 0, the faults counted', async () => {
    let faulty: FaultyStore | undefined;
    const t = await observedApp({ wrapStore: (s) => (faulty = new FaultyStore(s)) });
    await t.json('POST', '/hosts', localHost('docker1'));
    faulty!.full = true;
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' })).status).toBe(503);
    const m = await scrape(t);
    expect(m.get('netplumb_store_writable')).toBe(0);
    expect(m.get('netplumb_storage_faults_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('netplumb_host_reachable{host="docker1"}')).toBe(1);
    expect(t.logs().some((l) => l.level === 'error' && String(l.msg).includes('STORE FAILING'))).toBe(true);
    faulty!.full = false;
  });

  it('label sets do not grow with resources: 200 bridges make no more series than 5', async () => {
    const t = await observedApp();
    await t.json('POST', '/hosts', localHost('docker1'));
    await t.json('POST', '/hosts', localHost('docker3'));
    const make = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const host = i % 2 ? 'docker1' : 'docker3';
        expect((await t.json('POST', '/bridges', { host, name: `br${i}` })).status).toBe(201);
        expect((await t.json('GET', `/bridges/${host}/br${i}`)).status).toBe(200);
      }
      expect((await t.json('GET', '/bridges?limit=500')).status).toBe(200);
      expect((await t.json('GET', '/jobs?limit=5')).status).toBe(200);
    };
    await scrape(t); // the scrape itself is a request: counted from the second one on
    await make(0, 5);
    const few = await scrape(t);
    await make(5, 200);
    const many = await scrape(t);
    expect(many.get('netplumb_jobs_total{kind="bridge.create",outcome="succeeded"}')).toBe(200);
    expect([...many.keys()].filter((k) => !few.has(k))).toEqual([]);
    expect(many.size).toBe(few.size);
  }, 60_000);
});

describe('traces', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PARENT = `00-${TRACE}-00f067aa0ba902b7-01`;

  it("a request's traceparent is answered, recorded on its job (GET /jobs/{id}) and on every log line about it", async () => {
    const t = await observedApp();
    await t.json('POST', '/hosts', localHost('docker1'));
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' }, { traceparent: PARENT, 'X-Request-Id': 'ci-run-42' });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-trace-id')).toBe(TRACE);
    expect(r.headers.get('traceparent')).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(r.headers.get('traceparent')).not.toBe(PARENT);
    expect(r.headers.get('x-request-id')).toBe('ci-run-42');
    const jobId = ((await r.json()) as { job: { id: string } }).job.id;
    const job = (await (await t.json('GET', `/jobs/${jobId}`)).json()) as { traceId: string };
    expect(job.traceId).toBe(TRACE);
    const about = t.logs().filter((l) => l.jobId === jobId);
    expect(about.map((l) => l.msg)).toEqual(expect.arrayContaining(['job started', 'job ended']));
    for (const l of about) expect(l.traceId).toBe(TRACE);
    const done = t.logs().find((l) => l.msg === 'request done' && l.requestId === 'ci-run-42')!;
    expect(done).toMatchObject({ traceId: TRACE, method: 'POST', route: '/bridges', status: 201, level: 'info' });
  });

  it('without a traceparent (or with a malformed one) a new trace id is made, different for each request', async () => {
    const t = await observedApp();
    const a = await t.json('GET', '/hosts');
    const b = await t.json('GET', '/hosts', undefined, { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' });
    const ids = [a.headers.get('x-trace-id'), b.headers.get('x-trace-id')];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids).not.toContain('00000000000000000000000000000000');
  });
});

describe('the service log', () => {
  it('is JSON lines with level, time, request and trace ids; never the token or an inline private key', async () => {
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';
    const t = await observedApp();
    t.deps.runner.addSecret(key);
    await t.json('POST', '/hosts', localHost('docker1'));
    // Whatever a line carries passes the redactor: here a careless caller logs both secrets outright.
    t.deps.obs.logger.warn({ header: `Bearer ${TOKEN}`, key }, `token ${TOKEN}`);
    expect(t.lines.length).toBeGreaterThan(3);
    for (const line of t.lines) {
      expect(line.endsWith('\n')).toBe(true);
      const o = JSON.parse(line) as Record<string, unknown>;
      expect(typeof o.level).toBe('string');
      expect(typeof o.time).toBe('string');
      expect(o.msg).toBeTruthy();
    }
    const text = t.lines.join('');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW');
    expect(text).toContain('[REDACTED]');
    const done = t.logs().filter((l) => l.msg === 'request done');
    expect(done.length).toBeGreaterThan(0);
    for (const l of done) expect(l).toMatchObject({ requestId: expect.any(String), traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('logs nothing below its level', async () => {
    const lines: string[] = [];
    const t = await testApp({ obs: createObservability({ logLevel: 'warn', logOut: { write: (l: string) => void lines.push(l) } }) });
    await t.json('POST', '/hosts', localHost('docker1'));
    expect(lines).toEqual([]);
  });
});
