/**
 * Metrics, logs and traces on a real sandbox host (SSH, OVS, dockerd): after a bridge and a container attachment,
 * /metrics parses with `promtool check metrics` and counts what happened (jobs by kind, commands and batches sent to
 * the host, one drift repaired after an OVS port deleted by hand); a host that stops answering flips its gauge; a
 * request's traceparent reaches its job, its log lines and, through a local OTLP receiver, the exported spans
 * (request → job → batch, each the parent of the next); the log never shows the token or the inline private key.
 * Sandbox prefix `obs`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObservability, type Observability } from '../../src/observability/index.js';
import { Reconciler } from '../../src/reconcile/loop.js';
import { testSecretKey } from '../helpers/keys.js';
import { sshHostBody, startWorld, type World } from './harness.js';

const PREFIX = 'obs';
const HOST = 'docker1';
const TOKEN = 'obs-integration-token-0123456789abcdef';
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** A tiny OTLP/HTTP receiver on loopback: keeps the spans of every POST /v1/traces (JSON encoding). */
async function otlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let w: World;
let obs: Observability;
let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
const lines: string[] = [];
let privateKey = '';
const ids: Record<string, string> = {};

const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${w.baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

async function metricsText(): Promise<string> {
  const r = await api('GET', '/metrics');
  expect(r.status).toBe(200);
  return r.text();
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `promtool check metrics` on the text (stdin): its exit status and what it said. */
function promtoolCheckMetrics(text: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(text);
  });
}

const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  receiver = await otlpReceiver();
  obs = createObservability({ logLevel: 'debug', logOut: { write: (l: string) => void lines.push(l) }, otlpEndpoint: receiver.url });
  w = await startWorld(PREFIX, [{ name: HOST, underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }], {
    token: TOKEN,
    obs,
    secretKey: testSecretKey(),
  });
  // The host with its private key inline (sealed at rest): the key must never reach a log line.
  privateKey = readFileSync(w.sb.clientKeyPath, 'utf8');
  const body = sshHostBody(w.sb, HOST);
  const { privateKeyPath: _path, ...executor } = body.executor;
  const h = await api('POST', '/hosts', { ...body, executor: { ...executor, privateKey } });
  expect(h.status).toBe(201);
  ids.host = ((await h.json()) as { id: string }).id;
}, 120_000);

afterAll(async () => {
  await w?.close();
  await obs?.close();
  await receiver?.close();
}, 60_000);

describe('observability on a sandbox host', () => {
  it("a request's traceparent reaches its job, its log lines and the exported spans (request → job → batch)", async () => {
    const r = await api(
      'POST',
      '/bridges',
      { host: HOST, name: 'ovs_bridge', addresses: ['10.11.12.1/24'] },
      {
        traceparent: `00-${TRACE}-${CALLER_SPAN}-01`,
      },
    );
    expect(r.status).toBe(201);
    expect(r.headers.get('x-trace-id')).toBe(TRACE);
    const requestSpan = r.headers.get('traceparent')!.split('-')[2]!;
    const b = (await r.json()) as { id: string; job: { id: string } };
    ids.bridge = b.id;
    const job = (await (await api('GET', `/jobs/${b.job.id}`)).json()) as { traceId: string };
    expect(job.traceId).toBe(TRACE);
    const jobLines = logs().filter((l) => l.jobId === b.job.id);
    expect(jobLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['job started', 'job ended']));
    for (const l of jobLines) expect(l.traceId).toBe(TRACE);

    await obs.tracer.flush();
    const spans = await until('the spans at the OTLP receiver', 10_000, async () => {
      const s = receiver.spans.filter((x) => x.traceId === TRACE);
      return s.some((x) => x.name.startsWith('batch')) && s;
    });
    const request = spans.find((s) => s.spanId === requestSpan)!;
    expect(request).toBeDefined();
    expect(request.parentSpanId).toBe(CALLER_SPAN);
    const jobSpan = spans.find((s) => s.name === 'job bridge.create')!;
    expect(jobSpan.parentSpanId).toBe(requestSpan);
    const batches = spans.filter((s) => s.name === `batch ${HOST}`);
    expect(batches.length).toBeGreaterThan(0);
    for (const s of batches) expect(s.parentSpanId).toBe(jobSpan.spanId);
  });

  it('after a container is attached, /metrics passes promtool and counts the jobs, commands and batches that ran', async () => {
    await w.sb.startWeb(HOST, 'web1', 1);
    const a = await w.np.attachments.create({
      bridge: `${HOST}/ovs_bridge`,
      target: { container: 'web1' },
      addresses: ['10.11.12.100/24'],
    });
    ids.attachment = a.id;

    const text = await metricsText();
    const check = await promtoolCheckMetrics(text);
    expect(check.out).toBe('');
    expect(check.code).toBe(0);

    for (const kind of ['host.create', 'bridge.create', 'attachment.create'])
      expect(sample(text, `netplumb_jobs_total{kind="${kind}",outcome="succeeded"}`), kind).toBe(1);
    expect(sample(text, `netplumb_host_reachable{host="${HOST}"}`)).toBe(1);
    expect(sample(text, `netplumb_host_ssh_connected{host="${HOST}"}`)).toBe(1);
    expect(sample(text, `netplumb_host_ssh_connections_opened{host="${HOST}"}`)).toBe(1);

    // Every command a job sent is in its log: a `cmd` line, or the gratuitous ARP it sends in the background (an
    // info line, no result to wait for). Nothing else talked to the host yet.
    const page = (await (await api('GET', '/jobs?limit=50')).json()) as { items: { id: string }[] };
    let commands = 0;
    for (const j of page.items) {
      const logPage = (await (await api('GET', `/jobs/${j.id}/logs?limit=1000`)).json()) as {
        items: { stream: string; host: string; text: string }[];
      };
      const mine = logPage.items.filter((l) => l.host === HOST);
      commands += mine.filter((l) => l.stream === 'cmd' || l.text.startsWith('gratuitous ARP in the background')).length;
    }
    const sentCommands = sample(text, `netplumb_host_commands_total{host="${HOST}"}`)!;
    const sentBatches = sample(text, `netplumb_host_batches_total{host="${HOST}"}`)!;
    expect(sentCommands).toBe(commands);
    // Batched: fewer round trips than commands, at least one per job.
    expect(sentBatches).toBeGreaterThanOrEqual(page.items.length);
    expect(sentBatches).toBeLessThan(sentCommands);
    // Each round trip is timed when it ends (the background ARP takes about a second).
    await until('every round trip timed', 10_000, async () => {
      const t = await metricsText();
      return sample(t, `netplumb_host_batch_duration_seconds_count{host="${HOST}"}`) === sentBatches;
    });
  }, 120_000);

  it('an OVS port deleted by hand: the reconcile loop repairs it and the counters say one attachment drift repaired', async () => {
    const att = (await (await api('GET', `/attachments/${ids.attachment}`)).json()) as { hostIfname: string };
    const del = await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=10', 'del-port', 'ovs_bridge', att.hostIfname]);
    expect(del.exitCode).toBe(0);
    const loop = new Reconciler(w.deps, { intervalMs: 0, tickMs: 200, dockerEvents: false, log: () => {} }).start();
    try {
      loop.requestPass(ids.host!, 'test: a port deleted by hand');
      await until('the repair', 60_000, async () => {
        const t = await metricsText();
        return sample(t, 'netplumb_reconcile_drift_repaired_total{kind="attachment"}') === 1;
      });
    } finally {
      await loop.stop();
    }
    const back = await w.sb.exec(HOST, ['ovs-vsctl', '--timeout=10', 'port-to-br', att.hostIfname]);
    expect(back.stdout.trim()).toBe('ovs_bridge');
    const text = await metricsText();
    expect(sample(text, 'netplumb_reconcile_drift_found_total{kind="attachment"}')).toBe(1);
    expect(sample(text, 'netplumb_reconcile_passes_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'netplumb_jobs_total{kind="host.reconcile",outcome="succeeded"}')).toBe(1);
    const found = logs().find((l) => l.msg === 'reconcile findings')!;
    expect(found).toMatchObject({ host: HOST, level: 'warn' });
    expect(JSON.stringify(found.drifted)).toContain(ids.attachment);
  }, 90_000);

  it('a host that stops answering flips its reachable gauge to 0 and is logged as unreachable', async () => {
    await w.sb.stopSshd(HOST);
    try {
      // The kept connection would still answer: drop it, as a reboot or a network cut would.
      await w.deps.hosts.forget(ids.host!);
      const r = await api('POST', `/hosts/${HOST}/probe`);
      expect(r.status).toBe(502);
      const text = await metricsText();
      expect(sample(text, `netplumb_host_reachable{host="${HOST}"}`)).toBe(0);
      expect(sample(text, `netplumb_jobs_total{kind="host.probe",outcome="failed"}`)).toBe(1);
      const down = logs().find((l) => l.msg === 'host unreachable')!;
      expect(down).toMatchObject({ host: HOST, level: 'warn', problem: expect.stringContaining('host-unreachable') });
      expect(down.traceId).toBe(r.headers.get('x-trace-id'));
    } finally {
      await w.sb.startSshd(HOST);
    }
  }, 60_000);

  it('the service log: JSON lines with request, job, host and trace ids; never the token or the private key', () => {
    expect(lines.length).toBeGreaterThan(10);
    for (const l of logs()) {
      expect(typeof l.level).toBe('string');
      expect(typeof l.time).toBe('string');
      expect(typeof l.msg).toBe('string');
    }
    const requests = logs().filter((l) => l.msg === 'request done');
    expect(requests.length).toBeGreaterThan(5);
    for (const l of requests) expect(l).toMatchObject({ requestId: expect.any(String), traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const jobs = logs().filter((l) => l.msg === 'job ended');
    expect(jobs.length).toBeGreaterThanOrEqual(5);
    for (const l of jobs)
      expect(l).toMatchObject({ jobId: expect.stringMatching(/^job_/), traceId: expect.any(String), kind: expect.any(String) });
    const text = lines.join('');
    expect(text).not.toContain(TOKEN);
    const keyLines = privateKey.split('\n').filter((x) => x.length >= 16 && !x.startsWith('-----'));
    expect(keyLines.length).toBeGreaterThan(0);
    for (const k of keyLines) expect(text).not.toContain(k);
  });
});
