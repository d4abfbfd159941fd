/**
 * Jobs as data: in a function (AppDeps.jobMode 'invocation'), `Prefer: respond-async` queues the job, and a worker
 * (runQueuedJobs) runs it from its row alone — the same commands, the same outcome, the Idempotency-Key answered —
 * for every kind listed as resumable. On PostgreSQL (leases), with fake hosts.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { RESUMABLE_KINDS, resumeJob } from '../../src/api/resume.js';
import { newJob } from '../../src/jobs/runner.js';
import { createDeps } from '../../src/services.js';
import { runQueuedJobs } from '../../src/worker-loop.js';
import { FakeWorld } from '../helpers/fake-host.js';
import { openPgTestStore } from '../helpers/test-store.js';

async function functionApp() {
  const world = new FakeWorld();
  const { store, coordination } = await openPgTestStore({ replicaId: 'function-1' });
  const deps = await createDeps(
    store,
    { defaultWaitMs: 30_000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20 },
    world.factory(),
    coordination,
  );
  deps.jobMode = 'invocation';
  const app = createApp(deps);
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 4242, running: true });
  world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  return { deps, world, call };
}

const ASYNC = { Prefer: 'respond-async' };

describe('queued by a function, run by a worker', () => {
  it('each resumable kind: 202 queued, nothing runs until the worker claims it, then the same outcome', async () => {
    const f = await functionApp();
    /** Sends a request asynchronously, checks it stayed queued with no command run, runs the queue, returns the job. */
    const queued = async (method: string, path: string, body?: unknown, key?: string) => {
      const before = f.world.calls.length;
      const r = await f.call(method, path, body, { ...ASYNC, ...(key ? { 'Idempotency-Key': key } : {}) });
      expect(r.status, await r.clone().text()).toBe(202);
      const { job } = (await r.json()) as { job: { id: string; status: string } };
      expect(job.status).toBe('queued');
      expect(f.world.calls.length).toBe(before);
      expect(await runQueuedJobs(f.deps, { untilIdle: true })).toBe(1);
      const done = (await f.deps.store.getJob(job.id))!;
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      return done;
    };

    await queued('POST', '/hosts', { name: 'docker1', executor: { kind: 'local' } });
    expect((await f.deps.store.allResources('host'))[0]!.state).toBe('ready');
    await queued('POST', '/hosts/docker1/probe');

    const created = await queued('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] }, 'k-br');
    expect(f.world.calls.some((c) => c.argv.join(' ').includes('add-br ovs_bridge'))).toBe(true);
    // The key answers with what the worker's job produced (a replay, not a second job).
    const replay = await f.call(
      'POST',
      '/bridges',
      { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] },
      { 'Idempotency-Key': 'k-br' },
    );
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotency-replayed')).toBe('true');
    expect(await replay.json()).toMatchObject({ name: 'ovs_bridge', state: 'ready', job: { id: created.id } });

    const updated = await queued('PATCH', '/bridges/docker1%2Fovs_bridge', { addresses: ['10.11.12.2/24'] });
    expect(updated.params).toMatchObject({ previous: { addresses: ['10.11.12.1/24'] } });
    expect(f.world.calls.some((c) => c.argv.join(' ').includes('10.11.12.2/24'))).toBe(true);

    await queued('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] });
    const att = (await f.deps.store.allResources('attachment'))[0]!;
    expect(att.state).toBe('ready');
    await queued('PATCH', `/attachments/${att.id}`, { link: 'down' });
    expect(((await f.deps.store.getResource(att.id))!.data as { link?: string }).link).toBe('down');
    await queued('DELETE', `/attachments/${att.id}`);
    expect(await f.deps.store.getResource(att.id)).toBeNull();
    const deleted = await queued('DELETE', '/bridges/docker1%2Fovs_bridge');
    expect(deleted.params).toMatchObject({ cascade: false, stateBefore: 'ready' });
    expect(await f.deps.store.allResources('bridge')).toHaveLength(0);
  });

  it('a job a worker cannot run from its row fails with the reason instead of waiting forever', async () => {
    const f = await functionApp();
    const job = newJob({ kind: 'bridge.update', resource: { type: 'bridge', id: 'br_missing' }, hosts: [] });
    await f.deps.store.insertJob(job); // no `previous` parameter: written by something that did not know the format
    await f.deps.coordination.leases!.disown(job.id);
    expect(await runQueuedJobs(f.deps, { untilIdle: true })).toBe(1);
    const failed = (await f.deps.store.getJob(job.id))!;
    expect(failed.status).toBe('failed');
    expect(failed.error?.detail).toMatch(/no usable parameter previous/);
  });

  it('every kind listed as resumable has its work', async () => {
    const f = await functionApp();
    for (const kind of RESUMABLE_KINDS) {
      const job = newJob({
        kind,
        resource: { type: kind.split('.')[0]!, id: 'x' },
        hosts: [],
        params: { previous: {}, cascade: false, stateBefore: 'ready' },
      });
      // A parameter that does not parse throws (tested above); the kind itself is always known.
      let known = true;
      try {
        known = (await resumeJob(f.deps.store, job)) !== null;
      } catch {
        known = true;
      }
      expect(known, kind).toBe(true);
    }
    expect(
      await resumeJob(f.deps.store, newJob({ kind: 'topology.apply', resource: { type: 'topology', id: 'x' }, hosts: [] })),
    ).toBeNull();
  });
});
