/**
 * Scopes and restrictions (issue 29). The matrix is generated from openapi/openapi.json: every operation, called with
 * a token of each scope, is allowed or 403 exactly as its `security` declares, and a 403 makes no job. Then the
 * restrictions (topology prefixes, host labels), the audit trail and the principal on jobs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grants, SCOPES, type Scope } from '../../src/model/principals.js';
import { SPEC_FILE } from '../helpers/contract.js';
import { localHost, testApp } from '../helpers/app.js';

const BOOTSTRAP = 'bootstrap-token-0123456789';

interface Op {
  method: string;
  path: string;
  operationId: string;
  scope: Scope | null;
}

const doc = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as {
  paths: Record<string, Record<string, { operationId: string; security?: { bearerAuth?: string[] }[] }>>;
};
const OPS: Op[] = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({
    method: method.toUpperCase(),
    path,
    operationId: op.operationId,
    scope: (op.security?.[0]?.bearerAuth?.[0] as Scope | undefined) ?? null,
  })),
);

const LAN = (host: string) => ({
  networks: { lan: { bridge: { type: 'ovs', name: 'lan0' }, subnet: '10.1.0.0/24', members: [{ host, container: 'web1' }] } },
});

/** A body each operation would take (so an allowed call gets as far as it can; a refused one must not). */
function bodyFor(op: Op): unknown {
  if (op.operationId === 'createHost') return localHost('docker9');
  if (op.operationId === 'createBridge') return { host: 'docker1', name: 'br-m', type: 'ovs' };
  if (op.operationId === 'createToken') return { name: 'made', scopes: ['read'] };
  if (op.path.startsWith('/topologies/{name}') && (op.method === 'PUT' || op.operationId === 'planTopology')) return LAN('docker1');
  return op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH' ? {} : undefined;
}

async function world(config: Parameters<typeof testApp>[0] = {}) {
  const t = await testApp({ token: BOOTSTRAP, ...config });
  t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  expect((await t.json('POST', '/hosts', localHost('docker1', { labels: { pool: 'ci' } }))).status).toBe(201);
  expect((await t.json('POST', '/hosts', localHost('docker2'))).status).toBe(201);
  const mint = async (body: object) => {
    const r = await t.json('POST', '/tokens', body);
    expect(r.status).toBe(201);
    return (await r.json()) as { id: string; token: string; name: string };
  };
  const as = (token: string) => (method: string, path: string, body?: unknown) =>
    t.json(method, path, body, { Authorization: `Bearer ${token}` });
  const jobCount = async () => (await t.store.listJobs({ limit: 10_000 })).items.length;
  return { ...t, mint, as, jobCount };
}

describe('scope matrix (from the OpenAPI document)', () => {
  it('declares a scope on every operation but the health checks', () => {
    expect(OPS.length).toBeGreaterThan(40);
    expect(OPS.filter((o) => o.scope === null).map((o) => o.path)).toEqual(['/healthz', '/readyz']);
    for (const o of OPS) if (o.scope) expect(SCOPES, o.operationId).toContain(o.scope);
  });

  it.each(SCOPES)('a token with only %s: every operation allowed or 403 as declared, and a 403 makes no job', async (held) => {
    const t = await world();
    const tok = await t.mint({ name: `only-${held}`, scopes: [held] });
    // The token operations act on another token (an admin revoking its own would end the walk).
    const victim = await t.mint({ name: 'victim', scopes: ['read'] });
    const call = t.as(tok.token);
    const { id: jobId } = (await t.store.listJobs({ limit: 1 })).items[0]!;
    const ids: Record<string, string> = { id: jobId, idOrName: 'docker1', name: 'lan', host: 'docker1' };
    let refused = 0;
    for (const op of OPS.filter((o) => o.scope !== null)) {
      const path = op.path.replace(/\{(\w+)\}/g, (_m, p: string) => (op.path.startsWith('/tokens') ? victim.id : (ids[p] ?? 'x')));
      const before = await t.jobCount();
      const r = await call(op.method, path, bodyFor(op));
      const allowed = grants([held], op.scope!);
      const what = `${op.method} ${op.path} with ${held}`;
      expect(r.status, what).not.toBe(401);
      if (allowed) {
        if (r.status === 403) expect(((await r.json()) as { type: string }).type, what).not.toMatch(/\/forbidden$/);
        else await r.body?.cancel();
      } else {
        refused++;
        expect(r.status, what).toBe(403);
        const p = (await r.json()) as { type: string; missing: { scope: string }; detail: string };
        expect(p.type, what).toMatch(/\/forbidden$/);
        expect(p.missing.scope, what).toBe(op.scope);
        expect(p.detail, what).toContain(`\`${op.scope}\``);
        expect(await t.jobCount(), `${what}: no job`).toBe(before);
      }
    }
    expect(refused > 0).toBe(held !== 'admin');
  });
});

describe('restrictions', () => {
  it('a ci-* token on pool=ci hosts cannot apply prod-net, touch a host without the label, change a bridge directly, or read another token', async () => {
    const t = await world();
    const other = await t.mint({ name: 'other', scopes: ['read'] });
    const ci = await t.mint({ name: 'ci', scopes: ['write'], topologies: ['ci-*'], hostLabels: { pool: 'ci' } });
    const call = t.as(ci.token);
    const jobs = await t.jobCount();

    const prod = await call('PUT', '/topologies/prod-net', LAN('docker1'));
    expect(prod.status).toBe(403);
    const p1 = (await prod.json()) as { missing: { topology: string }; detail: string };
    expect(p1.missing.topology).toBe('prod-net');
    expect(p1.detail).toMatch(/prod-net is outside what ci may change \(ci-\*\)/);

    const unlabelled = await call('PUT', '/topologies/ci-b', LAN('docker2'));
    expect(unlabelled.status).toBe(403);
    expect(((await unlabelled.json()) as { missing: { hostLabel: string } }).missing.hostLabel).toBe('pool=ci');

    const bridge = await call('POST', '/bridges', { host: 'docker1', name: 'br-x', type: 'ovs' });
    expect(bridge.status).toBe(403);
    expect(((await bridge.json()) as { detail: string }).detail).toMatch(
      /restricted to topologies \(ci-\*\): it cannot change \/bridges directly/,
    );

    const read = await call('GET', `/tokens/${other.id}`);
    expect(read.status).toBe(403);
    expect(((await read.json()) as { missing: { scope: string } }).missing.scope).toBe('admin');
    expect(await t.jobCount()).toBe(jobs);

    // Within its reach: applied, and the job names who asked.
    const ok = await call('PUT', '/topologies/ci-a', LAN('docker1'));
    expect(ok.status).toBe(201);
    const job = ((await ok.json()) as { job: { id: string; principal: { kind: string; id: string; name: string } } }).job;
    expect(job.principal).toEqual({ kind: 'token', id: ci.id, name: 'ci' });
    const mine = (await (await t.json('GET', `/jobs?principal=${ci.id}`)).json()) as { items: { id: string }[] };
    expect(mine.items.map((j) => j.id)).toEqual([job.id]);
    // Reads are not restricted (docs/security.md): a write token reads.
    expect((await call('GET', '/topologies/ci-a')).status).toBe(200);
  });

  it('a hosts token restricted to pool=ci registers only hosts with the label, and removes only those', async () => {
    const t = await world();
    const ops = await t.mint({ name: 'ops', scopes: ['hosts'], hostLabels: { pool: 'ci' } });
    const call = t.as(ops.token);
    const jobs = await t.jobCount();
    const bare = await call('POST', '/hosts', localHost('docker5'));
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { missing: { hostLabel: string } }).missing.hostLabel).toBe('pool=ci');
    expect((await t.json('GET', '/hosts/docker5')).status).toBe(404);
    expect((await call('DELETE', '/hosts/docker2')).status).toBe(403);
    expect(await t.jobCount()).toBe(jobs);
    expect((await call('POST', '/hosts', localHost('docker6', { labels: { pool: 'ci' } }))).status).toBe(201);
    expect((await call('DELETE', '/hosts/docker6')).status).toBe(204);
  });
});

describe('tokens', () => {
  it('without NETPLUMB_TOKEN: no bearer is the anonymous admin, a wrong one is 401; /metrics still wants its own token', async () => {
    const metricsToken = 'scraper-token-0123456789abcdef';
    const t = await testApp({ config: { metricsToken } });
    expect((await t.app.request('/hosts')).status).toBe(200);
    expect((await t.app.request('/hosts', { headers: { Authorization: 'Bearer np_' + 'x'.repeat(43) } })).status).toBe(401);
    expect((await t.app.request('/metrics')).status).toBe(401);
    const scraped = await t.app.request('/metrics', { headers: { Authorization: `Bearer ${metricsToken}` } });
    expect(scraped.status).toBe(200);
    await scraped.body?.cancel();
  });

  it("an Idempotency-Key is its principal's: another token sending the same key and request gets 422, not the first answer", async () => {
    const t = await world();
    const a = await t.mint({ name: 'a', scopes: ['hosts'] });
    const b = await t.mint({ name: 'b', scopes: ['hosts'] });
    const body = localHost('docker8');
    const key = { 'Idempotency-Key': 'same-key-1' };
    expect((await t.json('POST', '/hosts', body, { Authorization: `Bearer ${a.token}`, ...key })).status).toBe(201);
    const again = await t.json('POST', '/hosts', body, { Authorization: `Bearer ${a.token}`, ...key });
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    await again.body?.cancel();
    const other = await t.json('POST', '/hosts', body, { Authorization: `Bearer ${b.token}`, ...key });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { type: string }).type).toMatch(/idempotency-key-reused$/);
  });

  it('are shown once, kept as SHA-256 only (not in the database files), and refused at once when revoked', async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'np-tokens-'));
    try {
      const t = await world({ dbPath: join(dir, 'np.db') });
      const tok = await t.mint({ name: 'ci', scopes: ['read'], expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
      expect(tok.token).toMatch(/^np_[A-Za-z0-9_-]{43}$/);
      const listed = (await (await t.json('GET', '/tokens')).json()) as { items: Record<string, unknown>[] };
      expect(JSON.stringify(listed)).not.toContain(tok.token);
      expect(listed.items.find((i) => i.id === tok.id)).toMatchObject({ name: 'ci', scopes: ['read'], prefix: tok.token.slice(0, 8) });
      expect((await t.as(tok.token)('GET', '/hosts')).status).toBe(200);

      const bytes = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1'));
      expect(bytes.join('').length).toBeGreaterThan(0);
      for (const b of bytes) expect(b.includes(tok.token.slice(3))).toBe(false);

      expect((await t.json('DELETE', `/tokens/${tok.id}`)).status).toBe(204);
      const after = await t.as(tok.token)('GET', '/hosts');
      expect(after.status).toBe(401);
      const p = (await after.json()) as { detail: string };
      expect(p.detail).toMatch(/was revoked at/);
      expect(p.detail).not.toContain(tok.token);
      expect((await t.json('GET', `/tokens/${tok.id}`)).status).toBe(200);
      await t.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an expired token is refused; an unknown np_ token is refused without saying more', async () => {
    const t = await world();
    const tok = await t.mint({ name: 'short', scopes: ['read'], expiresAt: new Date(Date.now() + 1500).toISOString() });
    expect((await t.as(tok.token)('GET', '/hosts')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const r = await t.as(tok.token)('GET', '/hosts');
    expect(r.status).toBe(401);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/expired at/);
    const unknown = await t.as('np_' + 'A'.repeat(43))('GET', '/hosts');
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { detail: string }).detail).toBe('the bearer token is not valid');
    expect((await t.json('POST', '/tokens', { name: 'late', scopes: ['read'], expiresAt: '2020-01-01T00:00:00Z' })).status).toBe(422);
  });
});

describe('audit log', () => {
  it('records token changes, host changes and refusals, each with its principal and trace id; admins only', async () => {
    const t = await world();
    const ro = await t.mint({ name: 'ro', scopes: ['read'] });
    const refused = await t.as(ro.token)('DELETE', '/hosts/docker2');
    expect(refused.status).toBe(403);
    const trace = refused.headers.get('x-trace-id');
    expect((await t.json('DELETE', `/tokens/${ro.id}`)).status).toBe(204);
    const page = (await (await t.json('GET', '/audit')).json()) as {
      items: { seq: number; action: string; principal: string; detail: Record<string, unknown> }[];
    };
    const actions = page.items.map((e) => `${e.action} ${e.principal}`);
    expect(actions).toEqual([
      'host.create bootstrap',
      'host.create bootstrap',
      'token.create bootstrap',
      `request.refused ${ro.id}`,
      'token.revoke bootstrap',
    ]);
    const refusal = page.items[3]!;
    expect(refusal.detail).toMatchObject({ method: 'DELETE', path: '/hosts/docker2', missing: { scope: 'hosts' }, traceId: trace });
    expect(page.items[0]!.detail).toMatchObject({ job: expect.stringMatching(/^job_/), traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const only = (await (await t.json('GET', `/audit?principal=${ro.id}`)).json()) as { items: unknown[] };
    expect(only.items).toHaveLength(1);
    const w = await t.mint({ name: 'w', scopes: ['write', 'hosts'] });
    expect((await t.as(w.token)('GET', '/audit')).status).toBe(403);
  });
});
