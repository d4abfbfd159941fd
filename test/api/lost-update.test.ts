/**
 * The lost-update drill (issue 23), on the fake host and on both stores (this file runs in the api and api-pg
 * projects): the reconcile loop reads a record, then the host (held open here), then writes. A change that lands in
 * between must win: the loop's write compares and sets on the version it read, and on a conflict it decides again
 * on the record as it is now instead of writing its stale copy over it.
 */
import { describe, expect, it } from 'vitest';
import type { HostReader } from '../../src/kinds/kind.js';
import { Reconciler } from '../../src/reconcile/loop.js';
import { localHost, testApp } from '../helpers/app.js';

const CONTAINER = { id: 'c0ffee'.padEnd(64, '0'), pid: 4242 };

async function world() {
  const t = await testApp();
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).status).toBe(201);
  t.world.containers.set('web1', { ...CONTAINER, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  const r = await t.json('POST', '/attachments', {
    bridge: 'docker1/ovs_bridge',
    target: { container: 'web1' },
    addresses: ['10.11.12.100/24'],
  });
  expect(r.status).toBe(201);
  const attachment = (await r.json()) as { id: string };
  return { t, attachment };
}

/**
 * A reconcile loop whose container lookups are held open once armed: `reached` resolves when the loop has read the
 * container (its decision is made from that read), and the lookup returns only when `release()` is called.
 */
function heldLoop(t: Awaited<ReturnType<typeof testApp>>) {
  const loop = new Reconciler(t.deps, { intervalMs: 0, tickMs: 20, dockerEvents: false, log: () => {} });
  const inner = (loop as unknown as { reader: HostReader }).reader;
  let reached!: () => void;
  const atHold = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  (loop as unknown as { reader: HostReader }).reader = {
    read: (hostId, cmds) => inner.read(hostId, cmds),
    container: async (hostId, ref) => {
      const c = await inner.container(hostId, ref);
      reached();
      await gate;
      return c;
    },
  };
  return { loop, atHold, release };
}

describe('the reconcile loop never writes a stale copy over a newer record', () => {
  it("a PATCH that lands while the loop reads a stopped container is kept (the loop's target-stopped is dropped)", async () => {
    const { t, attachment } = await world();
    const before = await (await t.json('GET', `/attachments/${attachment.id}`)).json();
    // The loop sees the container stopped and is held before it writes `target-stopped`.
    t.world.containers.set('web1', { ...CONTAINER, running: false });
    const { loop, atHold, release } = heldLoop(t);
    loop.start();
    try {
      await atHold;
      // Meanwhile the container is back and a user pulls the cable: a job that changes the record.
      t.world.containers.set('web1', { ...CONTAINER, running: true });
      const patched = await t.json('PATCH', `/attachments/${attachment.id}`, { link: 'down' });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ state: 'ready', link: 'down' });
    } finally {
      release();
      await loop.stop();
      await t.deps.runner.drain();
    }
    // The PATCH stands: not overwritten by the loop's copy (link up, target-stopped) read before it.
    const after = await (await t.json('GET', `/attachments/${attachment.id}`)).json();
    expect(after).toMatchObject({ state: 'ready', link: 'down' });
    expect(after.updatedAt >= before.updatedAt).toBe(true);
    const stored = (await t.store.getResource(attachment.id))!;
    expect(stored.state).toBe('ready');
    expect((stored.data as { link?: string }).link).toBe('down');
  });

  it('a DELETE that lands while the loop reads a stopped container leaves no record behind (nothing comes back)', async () => {
    const { t, attachment } = await world();
    t.world.containers.set('web1', { ...CONTAINER, running: false });
    const { loop, atHold, release } = heldLoop(t);
    loop.start();
    try {
      await atHold;
      expect((await t.json('DELETE', `/attachments/${attachment.id}`)).status).toBe(204);
    } finally {
      release();
      await loop.stop();
      await t.deps.runner.drain();
    }
    expect((await t.json('GET', `/attachments/${attachment.id}`)).status).toBe(404);
    expect(await t.store.getResource(attachment.id)).toBeNull();
    expect((await (await t.json('GET', '/attachments')).json()).items).toEqual([]);
  });

  it('without a race the loop still marks a stopped container (the compare-and-set is not a refusal)', async () => {
    const { t, attachment } = await world();
    t.world.containers.set('web1', { ...CONTAINER, running: false });
    const { loop, atHold, release } = heldLoop(t);
    loop.start();
    try {
      await atHold;
      release();
      await expect
        .poll(async () => (await (await t.json('GET', `/attachments/${attachment.id}`)).json()).state, { timeout: 5000 })
        .toBe('target-stopped');
    } finally {
      release();
      await loop.stop();
      await t.deps.runner.drain();
    }
  });
});
