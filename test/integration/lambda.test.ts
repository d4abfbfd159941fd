/**
 * The service as a Lambda function, without any cloud: the built handler (dist/lambda.mjs) driven in-process with
 * synthetic API Gateway v2 events, on the PostgreSQL store, against a sandbox host over SSH. Jobs run within the
 * invocation, or — asked for asynchronously — wait queued until the worker entry (node dist/worker.mjs, a child
 * process here) claims them with its lease.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { buildAll } from '../../scripts/build.mjs';
import { createDatabase, dropDatabase } from '../helpers/pg-cluster.js';
import { down, up, type Sandbox } from '../testbed/sandbox.js';
import { sshHostBody } from './harness.js';

type LambdaModule = typeof import('../../src/lambda.js');

const ROOT = path.resolve(import.meta.dirname, '../..');
const PREFIX = 'l19';
const TOKEN = 'lambda-test-token-0123456789abcdef';
const DOMAIN = 'abc123.lambda-url.eu-west-1.on.aws';

let sb: Sandbox;
let dbUrl: string;
let lambda: LambdaModule;
const savedEnv = { ...process.env };

interface Answer {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

let requests = 0;
/** An API Gateway HTTP API (payload 2.0) event, as a Function URL sends it too. */
function event(
  method: string,
  rawPath: string,
  opts: { body?: unknown; base64?: boolean; headers?: Record<string, string>; query?: string; token?: string | null } = {},
): LambdaEvent {
  const text = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: opts.query ?? '',
    headers: {
      host: DOMAIN,
      'user-agent': 'vitest',
      'x-forwarded-proto': 'https',
      ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? TOKEN}` }),
      ...(text ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc123',
      domainName: DOMAIN,
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: `req-${++requests}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(text === undefined ? {} : { body: opts.base64 ? Buffer.from(text).toString('base64') : text, isBase64Encoded: !!opts.base64 }),
  } as unknown as LambdaEvent;
}

/** A Lambda context with `ms` of the invocation left. */
const context = (ms = 60_000) =>
  ({
    functionName: 'netplumb',
    awsRequestId: `ctx-${requests}`,
    getRemainingTimeInMillis: () => ms,
  }) as unknown as LambdaContext;

async function invoke(e: LambdaEvent, ms?: number): Promise<Answer> {
  return (await lambda.handler(e, context(ms))) as Answer;
}
const json = (a: Answer) => JSON.parse(a.isBase64Encoded ? Buffer.from(a.body, 'base64').toString() : a.body) as Record<string, unknown>;

beforeAll(async () => {
  await buildAll({ quiet: true });
  const admin = process.env.NETPLUMB_TEST_PG_URL;
  if (!admin) throw new Error('NETPLUMB_TEST_PG_URL is not set: vitest.config.ts globalSetup starts PostgreSQL');
  dbUrl = await createDatabase(admin, 'lambda');
  await down(PREFIX).catch(() => undefined);
  sb = await up({
    prefix: PREFIX,
    hosts: [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }],
    withDocker: false,
  });
  lambda = (await import(path.join(ROOT, 'dist/lambda.mjs'))) as LambdaModule;
}, 180_000);

afterAll(async () => {
  const deps = lambda?.resetForTests();
  if (deps) {
    await deps.runner.drain();
    await deps.hosts.closeAll();
    await deps.storage.close();
    await deps.coordination.close();
  }
  process.env = { ...savedEnv };
  await sb?.down();
  if (dbUrl) await dropDatabase(dbUrl);
}, 120_000);

describe('a function that cannot run says which setting is missing', () => {
  it('without a PostgreSQL store, a token and its host name, the invocation fails with one line', async () => {
    process.env.NETPLUMB_DB = ':memory:';
    await expect(invoke(event('GET', '/healthz'))).rejects.toThrow(/NETPLUMB_DB must be postgres/);
    process.env.NETPLUMB_DB = dbUrl;
    delete process.env.NETPLUMB_TOKEN;
    await expect(invoke(event('GET', '/healthz'))).rejects.toThrow(/NETPLUMB_TOKEN must be set/);
    process.env.NETPLUMB_TOKEN = TOKEN;
    delete process.env.NETPLUMB_ALLOWED_HOSTS;
    await expect(invoke(event('GET', '/healthz'))).rejects.toThrow(/NETPLUMB_ALLOWED_HOSTS/);
    process.env.NETPLUMB_ALLOWED_HOSTS = DOMAIN;
    process.env.NETPLUMB_LEASE_S = '5';
    process.env.NETPLUMB_REPLICA_ID = 'function-1';
    const a = await invoke(event('GET', '/healthz', { token: null }));
    expect(a.statusCode).toBe(200);
  });
});

describe('the Lambda handler on API Gateway v2 events', () => {
  let bridgeId = '';

  it('registers a sandbox host over SSH: the job runs within the invocation', async () => {
    const a = await invoke(event('POST', '/hosts', { body: sshHostBody(sb, 'docker1') }));
    expect(a.statusCode, a.body).toBe(201);
    expect(json(a)).toMatchObject({ name: 'docker1', state: 'ready', job: { status: 'succeeded' } });
  });

  it('creates a bridge from a base64-encoded body, and gets it', async () => {
    const a = await invoke(event('POST', '/bridges', { base64: true, body: { host: 'docker1', name: 'br_fn1', type: 'ovs' } }));
    expect(a.statusCode, a.body).toBe(201);
    const body = json(a);
    expect(body).toMatchObject({ name: 'br_fn1', state: 'ready' });
    bridgeId = body.id as string;
    expect((await sb.exec('docker1', ['ovs-vsctl', 'br-exists', 'br_fn1'])).exitCode).toBe(0);

    const got = await invoke(event('GET', `/bridges/${bridgeId}`));
    expect(got.statusCode).toBe(200);
    expect(got.headers?.['content-type']).toMatch(/^application\/json/);
    expect(json(got)).toMatchObject({ id: bridgeId, name: 'br_fn1', state: 'ready' });
  });

  it('a problem keeps its content type and pointer; no job is made, nothing runs', async () => {
    const a = await invoke(event('POST', '/bridges', { body: { host: 'docker1', name: 'bad name;rm', type: 'ovs' } }));
    expect(a.statusCode).toBe(422);
    expect(a.headers?.['content-type']).toBe('application/problem+json');
    expect(a.isBase64Encoded).toBe(false);
    const p = json(a) as { errors: { pointer: string }[] };
    expect(p.errors.map((e) => e.pointer)).toContain('/name');
    const unauthorized = await invoke(event('GET', '/bridges', { token: 'wrong-token-wrong-token-wrong' }));
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.headers?.['content-type']).toBe('application/problem+json');
  });

  it('Prefer: respond-async (a header with several values) → 202, the job waits queued, the worker entry claims and runs it', async () => {
    const a = await invoke(
      event('POST', '/bridges', {
        body: { host: 'docker1', name: 'br_fn2', type: 'ovs' },
        headers: { prefer: 'respond-async, wait=5', accept: 'application/json, application/problem+json', 'idempotency-key': 'fn-key-1' },
      }),
    );
    expect(a.statusCode, a.body).toBe(202);
    const location = a.headers?.location ?? '';
    expect(location).toMatch(/^\/jobs\/job_/);
    const jobId = location.split('/').pop()!;
    // Queued, not run: nothing on the host yet, even after a while.
    await new Promise((r) => setTimeout(r, 1000));
    expect(json(await invoke(event('GET', location)))).toMatchObject({ status: 'queued' });
    expect((await sb.exec('docker1', ['ovs-vsctl', 'br-exists', 'br_fn2'])).exitCode).toBe(2);

    const worker: ChildProcess = spawn(process.execPath, ['dist/worker.mjs'], {
      cwd: ROOT,
      env: { ...process.env, NETPLUMB_DB: dbUrl, NETPLUMB_REPLICA_ID: 'worker-1', NETPLUMB_LEASE_S: '5' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    worker.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    worker.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      let job: Record<string, unknown> = {};
      for (let i = 0; i < 100; i++) {
        job = json(await invoke(event('GET', location)));
        if (job.status !== 'queued' && job.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(job.status, out).toBe('succeeded');
      expect(out).toContain(`worker: running bridge.create ${jobId}`);
      expect((await sb.exec('docker1', ['ovs-vsctl', 'br-exists', 'br_fn2'])).exitCode).toBe(0);
      // The job's log is the worker's, and the Idempotency-Key answers with the outcome it wrote.
      const logs = await invoke(event('GET', `${location}/logs`));
      expect(logs.body).toContain('ovs-vsctl');
      const again = await invoke(
        event('POST', '/bridges', { body: { host: 'docker1', name: 'br_fn2', type: 'ovs' }, headers: { 'idempotency-key': 'fn-key-1' } }),
      );
      expect(again.statusCode).toBe(201);
      expect(again.headers?.['idempotency-replayed']).toBe('true');
      expect(json(again)).toMatchObject({ name: 'br_fn2', state: 'ready' });
    } finally {
      const closed = new Promise((r) => worker.once('close', r));
      worker.kill('SIGTERM');
      await closed;
    }
  }, 60_000);

  it('a delete asked for asynchronously is queued too, and the drainQueue handler runs it', async () => {
    const a = await invoke(event('DELETE', `/bridges/${bridgeId}`, { headers: { prefer: 'respond-async' } }));
    expect(a.statusCode).toBe(202);
    const ran = await lambda.drainQueue({}, { getRemainingTimeInMillis: () => 60_000 });
    expect(ran.ran).toBe(1);
    expect((await invoke(event('GET', `/bridges/${bridgeId}`))).statusCode).toBe(404);
    expect((await sb.exec('docker1', ['ovs-vsctl', 'br-exists', 'br_fn1'])).exitCode).toBe(2);
    // The other bridge goes within the invocation (no Prefer): 204.
    const other = await invoke(event('DELETE', '/bridges/docker1%2Fbr_fn2'));
    expect(other.statusCode, other.body).toBe(204);
  }, 60_000);
});
