/**
 * HTTP concurrency control (issue 23): `ETag` on every resource and topology answer, `If-Match` on PATCH, DELETE and
 * PUT /topologies/{name}, `If-None-Match: *` on that PUT. A precondition that does not hold is a 412
 * `precondition-failed` naming the current ETag, and nothing happens: no job, no command, the record as it was.
 * Runs in the api, api-pg and api-http projects (both stores; over a real socket).
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

const ETAG = /^"[a-z]+_[a-z0-9]+\.\d+"$/;

async function world() {
  const t = await testApp();
  for (const [name, ip] of [
    ['docker1', '10.10.10.101'],
    ['docker3', '192.168.50.101'],
  ] as const)
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
  t.world.containers.set('web2', { id: 'd'.repeat(64), pid: 4343, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  const created = await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  expect(created.status).toBe(201);
  const bridge = (await created.json()) as { id: string };
  return { t, bridge, createdEtag: created.headers.get('etag') };
}

type T = Awaited<ReturnType<typeof world>>['t'];

const jobCount = async (t: T) => (await t.store.listJobs({ limit: 1000 })).items.length;

async function refused(res: Response, current: string | null) {
  expect(res.status).toBe(412);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const p = (await res.json()) as { type: string; etag: string | null; detail: string };
  expect(p.type).toBe('https://netplumb.dev/problems/precondition-failed');
  expect(p.etag).toBe(current);
  return p;
}

describe('ETag', () => {
  it('names the record and its version on GET, by id and by name, and on every mutation answer', async () => {
    const { t, bridge, createdEtag } = await world();
    expect(createdEtag).toMatch(ETAG);
    const got = await t.json('GET', `/bridges/${bridge.id}`);
    expect(got.headers.get('etag')).toBe(createdEtag);
    expect((await t.json('GET', '/bridges/docker1/ovs_bridge')).headers.get('etag')).toBe(createdEtag);
    const stored = (await t.store.getResource(bridge.id))!;
    expect(createdEtag).toBe(`"${bridge.id}.${stored.version}"`);

    const patched = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1400 });
    expect(patched.status).toBe(200);
    const after = patched.headers.get('etag');
    expect(after).toMatch(ETAG);
    expect(after).not.toBe(createdEtag);
    expect((await t.json('GET', `/bridges/${bridge.id}`)).headers.get('etag')).toBe(after);
    expect((await t.json('GET', '/hosts/docker1')).headers.get('etag')).toMatch(ETAG);
  });

  it('a replayed answer (same Idempotency-Key) carries the ETag it had', async () => {
    const { t, bridge } = await world();
    const headers = { 'Idempotency-Key': 'etag-replay-1' };
    const first = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1450 }, headers);
    const again = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1450 }, headers);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
  });
});

describe('If-Match', () => {
  it('a PATCH with the current ETag applies; with a stale one: 412, no job, no command, the record unchanged', async () => {
    const { t, bridge, createdEtag } = await world();
    const ok = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1400 }, { 'If-Match': createdEtag! });
    expect(ok.status).toBe(200);
    const current = ok.headers.get('etag');

    const jobs = await jobCount(t);
    const record = await t.store.getResource(bridge.id);
    t.world.calls = [];
    const p = await refused(await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1300 }, { 'If-Match': createdEtag! }), current);
    expect(p.detail).toContain('changed since it was read');
    expect(await jobCount(t)).toBe(jobs);
    expect(t.world.calls).toEqual([]);
    expect(await t.store.getResource(bridge.id)).toEqual(record);
    expect((await (await t.json('GET', `/bridges/${bridge.id}`)).json()).mtu).toBe(1400);
  });

  it('matches strongly (a weak tag never does), takes a list and *, and a malformed one is a 422 pointing at the header', async () => {
    const { t, bridge, createdEtag } = await world();
    await refused(await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1400 }, { 'If-Match': `W/${createdEtag}` }), createdEtag);
    const listed = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1400 }, { 'If-Match': `"br_other.1", ${createdEtag}` });
    expect(listed.status).toBe(200);
    expect((await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1350 }, { 'If-Match': '*' })).status).toBe(200);

    const jobs = await jobCount(t);
    const bad = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1300 }, { 'If-Match': 'no-quotes' });
    expect(bad.status).toBe(422);
    const problem = (await bad.json()) as { errors: { in?: string; pointer: string }[] };
    expect(problem.errors).toContainEqual(expect.objectContaining({ in: 'header', pointer: '/if-match' }));
    expect(await jobCount(t)).toBe(jobs);
  });

  it('a DELETE with a stale ETag is refused and the resource stays; with the current one it goes; a missing one is still 404', async () => {
    const { t, bridge, createdEtag } = await world();
    const patched = await t.json('PATCH', `/bridges/${bridge.id}`, { mtu: 1400 });
    const current = patched.headers.get('etag');
    const jobs = await jobCount(t);
    await refused(await t.json('DELETE', `/bridges/${bridge.id}`, undefined, { 'If-Match': createdEtag! }), current);
    expect(await jobCount(t)).toBe(jobs);
    expect((await t.json('GET', `/bridges/${bridge.id}`)).status).toBe(200);
    expect((await t.json('DELETE', `/bridges/${bridge.id}`, undefined, { 'If-Match': current! })).status).toBe(204);
    expect((await t.json('DELETE', `/bridges/${bridge.id}`, undefined, { 'If-Match': current! })).status).toBe(404);
  });

  it('a change the reconcile loop makes (a state write) moves the ETag: an edit based on the older read is refused', async () => {
    const { t, bridge, createdEtag } = await world();
    const stored = (await t.store.getResource(bridge.id))!;
    // What the loop writes when it finds the bridge gone from the host: a patch of the state alone.
    await t.store.patchResource(bridge.id, { state: 'unknown', updatedAt: new Date().toISOString() }, stored.version);
    const now = (await t.json('GET', `/bridges/${bridge.id}`)).headers.get('etag');
    expect(now).not.toBe(createdEtag);
    await refused(await t.json('DELETE', `/bridges/${bridge.id}`, undefined, { 'If-Match': createdEtag! }), now);
  });
});

const DOC = {
  networks: {
    web: {
      bridge: { type: 'ovs', name: 'ovs_web' },
      subnet: '10.11.12.0/24',
      tunnel: { type: 'vxlan' },
      hostAddresses: 'auto',
      members: [
        { host: 'docker1', container: 'web1' },
        { host: 'docker3', container: 'web2' },
      ],
    },
  },
};

describe('topologies: If-Match and If-None-Match on PUT', () => {
  it('If-None-Match: * creates only; the dry run names the version it planned against; an apply on another version is refused', async () => {
    const { t } = await world();
    const created = await t.json('PUT', '/topologies/lab', DOC, { 'If-None-Match': '*' });
    expect(created.status, await created.clone().text()).toBe(201);
    const v1 = created.headers.get('etag');
    expect(v1).toMatch(ETAG);
    expect((await t.json('GET', '/topologies/lab')).headers.get('etag')).toBe(v1);

    const jobs = await jobCount(t);
    await refused(await t.json('PUT', '/topologies/lab', DOC, { 'If-None-Match': '*' }), v1);
    expect(await jobCount(t)).toBe(jobs);

    // Plan against v1 (the dry run's ETag), then someone else applies an edit first.
    const planned = await t.json('PUT', '/topologies/lab?dryRun=true', { ...DOC, labels: { team: 'a' } });
    expect(planned.status).toBe(200);
    expect(planned.headers.get('etag')).toBe(v1);
    const other = await t.json('PUT', '/topologies/lab', { ...DOC, labels: { team: 'b' } }, { 'If-Match': v1! });
    expect(other.status).toBe(200);
    const v2 = other.headers.get('etag');
    expect(v2).not.toBe(v1);

    const before = await jobCount(t);
    t.world.calls = [];
    await refused(await t.json('PUT', '/topologies/lab', { ...DOC, labels: { team: 'a' } }, { 'If-Match': v1! }), v2);
    await refused(await t.json('PUT', '/topologies/lab?dryRun=true', { ...DOC, labels: { team: 'a' } }, { 'If-Match': v1! }), v2);
    expect(await jobCount(t)).toBe(before);
    expect(t.world.calls).toEqual([]);
    expect((await (await t.json('GET', '/topologies/lab')).json()).labels).toEqual({ team: 'b' });

    await refused(await t.json('DELETE', '/topologies/lab', undefined, { 'If-Match': v1! }), v2);
    expect((await t.json('DELETE', '/topologies/lab', undefined, { 'If-Match': v2! })).status).toBe(204);
  });

  it('If-Match on a topology that does not exist is refused (etag null); made again under the same name, an old ETag does not match', async () => {
    const { t } = await world();
    await refused(await t.json('PUT', '/topologies/lab2', DOC, { 'If-Match': '*' }), null);
    const first = await t.json('PUT', '/topologies/lab2', DOC);
    expect(first.status).toBe(201);
    const old = first.headers.get('etag');
    expect((await t.json('DELETE', '/topologies/lab2')).status).toBe(204);
    const again = await t.json('PUT', '/topologies/lab2', DOC);
    expect(again.status).toBe(201);
    expect(again.headers.get('etag')).not.toBe(old);
    await refused(await t.json('PUT', '/topologies/lab2', DOC, { 'If-Match': old! }), again.headers.get('etag'));
  });
});
