/**
 * Issue 33: a job says what it waits for, and no wait lasts forever. Fake hosts; a bridge job held on its host by a
 * command that answers only when the test lets it.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

/** A host whose `add-br` waits for the test; the second bridge job queues behind the first one's exclusive lock. */
async function heldHost(lockWaitMs: number, bridgesFirst: string[] = []) {
  const t = await testApp({ config: { lockWaitMs } });
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  for (const name of bridgesFirst) expect((await t.json('POST', '/bridges', { host: 'docker1', name })).status).toBe(201);
  let letGo!: () => void;
  const gate = new Promise<void>((r) => (letGo = r));
  t.world.on((argv) => (argv.includes('add-br') && argv.includes('held') ? gate.then(() => ({ exitCode: 0 })) : undefined));
  const first = await (await t.json('POST', '/bridges', { host: 'docker1', name: 'held' }, { Prefer: 'respond-async' })).json();
  // the first job is running and holds docker1 (its batch waits at the gate)
  for (let i = 0; i < 50 && !t.world.calls.some((c) => c.argv.includes('held') && c.argv.includes('add-br')); i++)
    await new Promise((r) => setTimeout(r, 10));
  return { t, first: first.job.id as string, letGo };
}

describe('what a job waits for (issue 33)', () => {
  it('a queued job shows the lock it waits for and who holds it; the running one shows its batch on the host', async () => {
    const { t, first, letGo } = await heldHost(60_000);
    const second = await (await t.json('POST', '/bridges', { host: 'docker1', name: 'other' }, { Prefer: 'respond-async' })).json();
    const queued = await (await t.json('GET', `/jobs/${second.job.id}`)).json();
    expect(queued.status).toBe('queued');
    expect(queued.waiting).toEqual([
      {
        kind: 'lock',
        detail: expect.stringMatching(
          new RegExp(`^the exclusive lock on host\\(s\\) host_\\w+ \\(host_\\w+: held by ${first} \\(exclusive\\); 0 waiting\\)$`),
        ),
        host: expect.stringMatching(/^host_/),
        since: expect.any(String),
        boundMs: 60_000,
      },
    ]);
    const running = await (await t.json('GET', `/jobs/${first}`)).json();
    expect(running.status).toBe('running');
    expect(running.waiting).toEqual([
      {
        kind: 'batch',
        detail: expect.stringMatching(/^a batch of \d+ step\(s\) on docker1$/),
        host: 'docker1',
        since: expect.any(String),
        boundMs: expect.any(Number),
      },
    ]);
    // the list shows the same
    const list = await (await t.json('GET', '/jobs?status=queued')).json();
    expect(list.items.find((j: { id: string }) => j.id === second.job.id).waiting[0].kind).toBe('lock');
    letGo();
    await t.deps.runner.drain();
    const done = await (await t.json('GET', `/jobs/${second.job.id}`)).json();
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(done.waiting).toBeUndefined();
  });

  it('a job that waits past its lock bound fails with a timeout naming the lock and its holder, and runs nothing', async () => {
    const { t, first, letGo } = await heldHost(300);
    const before = t.world.calls.length;
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'other' });
    expect(r.status).toBe(504);
    const p = await r.json();
    expect(p).toMatchObject({
      type: 'https://netplumb.dev/problems/timeout',
      status: 504,
      jobId: expect.stringMatching(/^job_/),
      waiting: { kind: 'lock', boundMs: 300 },
    });
    expect(p.detail).toMatch(
      new RegExp(
        `^the job waited 0 s for the exclusive lock on host\\(s\\) host_\\w+ \\(host_\\w+: held by ${first} \\(exclusive\\); 0 waiting\\) \\(since .*\\) and gave up$`,
      ),
    );
    // nothing of the second bridge ran on the host, and its record says it failed
    expect(t.world.calls.slice(before).some((c) => c.argv.includes('other'))).toBe(false);
    const job = await (await t.json('GET', `/jobs/${p.jobId}`)).json();
    expect(job).toMatchObject({ status: 'failed', error: { type: 'https://netplumb.dev/problems/timeout' } });
    const logs = await (await t.json('GET', `/jobs/${p.jobId}/logs`)).json();
    expect(logs.items.map((l: { text: string }) => l.text).join('\n')).toMatch(
      /bridge\.create failed: the job waited 0 s for the exclusive lock/,
    );
    // its record went back as on any failed create: no bridge `other` stays pending
    expect((await t.json('GET', '/bridges/docker1/other')).status).toBe(404);
    // the holder is unharmed: it finishes once let go, and the lock is free again: the same request now works
    letGo();
    await t.deps.runner.drain();
    expect((await (await t.json('GET', `/jobs/${first}`)).json()).status).toBe('succeeded');
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'other' })).status).toBe(201);
  });

  it('a delete that gives up on its lock puts the record back in the state it had, and runs nothing', async () => {
    const { t, letGo } = await heldHost(300, ['keep']);
    const keep = await (await t.json('GET', '/bridges/docker1/keep')).json();
    const before = t.world.calls.length;
    const r = await t.json('DELETE', `/bridges/${keep.id}`);
    expect(r.status).toBe(504);
    expect((await r.json()).type).toBe('https://netplumb.dev/problems/timeout');
    expect(await (await t.json('GET', '/bridges/docker1/keep')).json()).toMatchObject({ name: 'keep', state: 'ready' });
    expect(t.world.calls.slice(before).some((c) => c.argv.includes('keep'))).toBe(false);
    letGo();
    await t.deps.runner.drain();
    expect((await t.json('DELETE', `/bridges/${keep.id}`)).status).toBe(204);
  });
});
