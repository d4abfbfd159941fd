/**
 * Self-healing through the API on the fake host (commands recorded, never proof the network works: see
 * test/integration/heal-*.test.ts): observe on attachments, repair routes, the namespace guard, unknown outcomes,
 * 502 for failed hosts, orphans, and the reconcile loop (only when a test starts it).
 */
import { describe, expect, it } from 'vitest';
import { BatchFramingError } from '../../src/exec/batch.js';
import { ExecError } from '../../src/exec/errors.js';
import { Reconciler } from '../../src/reconcile/loop.js';
import { localHost, testApp } from '../helpers/app.js';
import type { Responder } from '../helpers/fake-host.js';

const PID = 4242;

async function world() {
  const t = await testApp();
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).status).toBe(201);
  t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: PID, running: true });
  // an empty target namespace: only lo
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  t.world.calls = [];
  return t;
}

const unreachable = () => Promise.reject(new ExecError('host-unreachable', 'connection lost (test)'));

describe('observe and repair attachments', () => {
  it('observe=true reports what is missing; repair re-attaches with the same MAC in the new namespace; a stopped container → target-stopped', async () => {
    const t = await world();
    const a = await (
      await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] })
    ).json();
    const veth = t.world.calls.find((c) => c.argv.join(' ').startsWith(`ip link add dev ${a.hostIfname}`))!.argv;
    const mac = veth[veth.indexOf('address') + 1];
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);

    // The fake host has none of it: both ends are missing.
    const o = await (await t.json('GET', `/attachments/${a.id}?observe=true`)).json();
    expect(o.observed.drift.map((d: { field: string }) => d.field)).toEqual(['hostEnd', 'inside', 'bridge']);
    expect(o.observed.target).toMatchObject({ running: true, pid: PID });

    t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 0, running: false });
    const stopped = await (await t.json('GET', `/attachments/${a.id}?observe=true`)).json();
    expect(stopped.observed.drift).toEqual([{ field: 'target', desired: 'running', actual: 'stopped' }]);
    const r1 = await t.json('POST', `/attachments/${a.id}/repair`);
    expect(r1.status).toBe(200);
    expect((await r1.json()).state).toBe('target-stopped');

    // Restarted with another pid: repair makes the pair again there, same names, address and MAC.
    t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 5151, running: true });
    t.world.calls = [];
    const r2 = await t.json('POST', `/attachments/${a.id}/repair`);
    const body = await r2.json();
    expect(r2.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ state: 'ready', resolved: { pid: 5151 }, job: { kind: 'attachment.repair' } });
    const cmds = t.world.calls.map((c) => c.argv.join(' '));
    expect(cmds).toContain(`ip link add dev ${a.hostIfname} type veth peer name eth1 address ${mac} netns 5151`);
    // Configured inside through the new container's namespace, held for the batch (ops/attachments.ts holdingNamespace).
    expect(cmds).toContain(`nsenter --net=/run/netplumb/ns/${a.id} ip addr replace 10.11.12.100/24 dev eth1`);
    const held = `/run/netplumb/ns/${a.id}`;
    expect(
      cmds.some((c) => c.startsWith('sh -c') && c.includes(`netplumb-ns-hold /run/netplumb/ns ${held} /proc/5151/ns/net 4026532999`)),
    ).toBe(true);
    expect(cmds.some((c) => c.startsWith('sh -c') && c.endsWith(`netplumb-ns-end /proc/5151/ns/net ${held} 4026532999`))).toBe(true);
  });

  it("the target's namespace changed before the batch ran (inode guard) → the job fails, nothing is made, no record", async () => {
    const t = await world();
    // The check is part of the step that holds the namespace (a container's, by its pid).
    t.world.on((argv) => (argv[0] === 'sh' && argv[3] === 'netplumb-ns-hold' ? { exitCode: 1 } : undefined));
    const r = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' } });
    expect(r.status).toBe(502);
    expect((await r.json()).detail).toContain("hold the target's namespace (4026532999)");
    expect(t.world.calls.some((c) => c.argv.join(' ').startsWith('ip link add'))).toBe(false);
    // The hold is released even so (the mount may have happened before the check failed).
    expect(t.world.calls.some((c) => c.argv[3] === 'netplumb-ns-release')).toBe(true);
    expect((await (await t.json('GET', '/attachments')).json()).items).toEqual([]);
  });
});

describe('unknown outcomes', () => {
  it('a lost connection during the plan keeps the record unknown; the same request again converges (201, same id)', async () => {
    const t = await world();
    t.world.on((argv) => (argv.includes('add-br') ? unreachable() : undefined));
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br2', addresses: ['10.0.0.1/24'] });
    expect(r.status).toBe(502);
    const b = await (await t.json('GET', '/bridges/docker1/br2')).json();
    expect(b.state).toBe('unknown');
    t.world.responders.shift();
    // Another request for that name is still refused; the same one converges onto the record.
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br2', addresses: ['10.0.0.2/24'] })).status).toBe(409);
    const again = await t.json('POST', '/bridges', { host: 'docker1', name: 'br2', addresses: ['10.0.0.1/24'] });
    const body = await again.json();
    expect(again.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ id: b.id, state: 'ready', job: { kind: 'bridge.repair' } });
  });

  it('a bridge repair re-creates it when it is gone, and refuses (409) a bridge of that name marked by another owner', async () => {
    const t = await world();
    const b = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    t.world.calls = [];
    const r = await t.json('POST', `/bridges/${b.id}/repair`);
    expect(r.status).toBe(200);
    expect(t.world.calls.some((c) => c.argv.includes('add-br') && c.argv.includes(`external_ids:netplumb-id=${b.id}`))).toBe(true);
    t.world.on((argv) =>
      argv.includes('br-exists')
        ? { exitCode: 0 }
        : argv.includes('br-get-external-id')
          ? { stdout: 'br_someoneelse000000000\n' }
          : undefined,
    );
    t.world.calls = [];
    const r2 = await t.json('POST', `/bridges/${b.id}/repair`);
    expect(r2.status).toBe(409);
    expect(t.world.calls.some((c) => c.argv.includes('add-br'))).toBe(false);
  });
});

describe('hosts that do not answer', () => {
  it('a failed probe → creates answer 502 host-unreachable with Retry-After and start no job; the loop re-probes it back', async () => {
    const t = await world();
    t.world.on(unreachable);
    expect((await t.json('POST', '/hosts/docker1/probe')).status).toBe(502);
    const jobs = (await (await t.json('GET', '/jobs?limit=500')).json()).items.length;
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br3' });
    expect(r.status).toBe(502);
    expect(r.headers.get('retry-after')).toBe('10');
    expect((await r.json()).type).toBe('https://netplumb.dev/problems/host-unreachable');
    const a = await t.json('POST', '/attachments', { bridge: 'docker1/ovs_bridge', target: { container: 'web1' } });
    expect(a.status).toBe(502);
    expect((await (await t.json('GET', '/jobs?limit=500')).json()).items.length).toBe(jobs);

    t.world.responders.shift();
    const loop = new Reconciler(t.deps, { intervalMs: 0, tickMs: 20, reprobeMinMs: 20, dockerEvents: false, log: () => {} }).start();
    try {
      for (let i = 0; i < 200 && (await (await t.json('GET', '/hosts/docker1')).json()).state !== 'ready'; i++)
        await new Promise((res) => setTimeout(res, 20));
      expect((await (await t.json('GET', '/hosts/docker1')).json()).state).toBe('ready');
    } finally {
      await loop.stop();
      await t.deps.runner.drain();
    }
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br3' })).status).toBe(201);
  });
});

describe('orphans', () => {
  it('lists marked objects without a record (not unmarked ones, not ours) and removes them in one job', async () => {
    const t = await world();
    const ours = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    const table = (rows: [string, Record<string, string>][]) =>
      JSON.stringify({ headings: ['name', 'external_ids'], data: rows.map(([n, m]) => [n, ['map', Object.entries(m)]]) });
    t.world.on((argv) => {
      const cmd = argv.join(' ');
      if (cmd.endsWith('list Bridge'))
        return {
          stdout: table([
            ['ovs_bridge', { 'netplumb-id': ours.id }],
            ['orph', { 'netplumb-id': 'br_gone' }],
            ['handmade', {}],
          ]),
        };
      if (cmd.endsWith('list Interface')) return { stdout: table([['np1', { 'netplumb-id': 'att_gone' }]]) };
      if (cmd === 'ip -j -d link show')
        return { stdout: JSON.stringify([{ ifname: 'np1', ifalias: 'netplumb:att_gone' }, { ifname: 'eth9' }]) };
      return undefined;
    });
    const list = await (await t.json('GET', '/hosts/docker1/orphans')).json();
    expect(list.items).toEqual([
      { kind: 'ovs-bridge', name: 'orph', owner: 'br_gone' },
      { kind: 'ovs-port', name: 'np1', owner: 'att_gone' },
      { kind: 'link', name: 'np1', owner: 'att_gone' },
    ]);
    t.world.calls = [];
    const del = await t.json('DELETE', '/hosts/docker1/orphans');
    expect(del.status).toBe(200);
    expect((await del.json()).removed).toHaveLength(3);
    const cmds = t.world.calls.map((c) => c.argv.join(' '));
    expect(cmds).toEqual(
      expect.arrayContaining([
        'ovs-vsctl --timeout=10 --if-exists del-port np1',
        'ip link del dev np1',
        'ovs-vsctl --timeout=10 --if-exists del-br orph',
      ]),
    );
    expect(cmds.some((c) => c.includes('ovs_bridge') || c.includes('handmade'))).toBe(false);
  });
});

describe('the reconcile loop per host mode', () => {
  const until = async (f: () => Promise<boolean>) => {
    for (let i = 0; i < 250 && !(await f()); i++) await new Promise((res) => setTimeout(res, 20));
  };
  const jobsOf = async (t: Awaited<ReturnType<typeof world>>, kind: string) =>
    (await (await t.json('GET', `/jobs?kind=${kind}&limit=500`)).json()).items as { id: string; status: string }[];

  it('report: the drift is logged in a job and nothing changes, once; auto: the bridge is re-created', async () => {
    const t = await testApp();
    expect((await t.json('POST', '/hosts', localHost('docker1', { reconcile: 'report' }))).status).toBe(201);
    expect((await t.json('POST', '/hosts', localHost('docker2'))).status).toBe(201);
    for (const host of ['docker1', 'docker2']) expect((await t.json('POST', '/bridges', { host, name: 'br0' })).status).toBe(201);
    const [h1, h2] = await Promise.all(['docker1', 'docker2'].map(async (h) => (await (await t.json('GET', `/hosts/${h}`)).json()).id));
    t.world.calls = [];
    // The fake host has no bridge at all: both drifted.
    const loop = new Reconciler(t.deps, { intervalMs: 0, tickMs: 20, dockerEvents: false, log: () => {} }).start();
    try {
      await until(
        async () => (await jobsOf(t, 'host.reconcile')).filter((j) => j.status !== 'running' && j.status !== 'queued').length === 2,
      );
      const jobs = await jobsOf(t, 'host.reconcile');
      expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
      const logOf = async (host: string) => {
        const job = (await (await t.json('GET', `/jobs?kind=host.reconcile&resource=${host}`)).json()).items[0];
        return ((await (await t.json('GET', `/jobs/${job.id}/logs?limit=500`)).json()).items as { text: string }[]).map((l) => l.text);
      };
      const report = await logOf(h1);
      expect(report.some((l) => l.startsWith('drift on bridge') && l.includes('exists true ≠ false'))).toBe(true);
      expect(report).toContain('report mode: nothing changed');
      expect(t.world.calls.filter((c) => c.argv.includes('add-br')).map((c) => c.host)).toEqual(['docker2']);
      const auto = await logOf(h2);
      expect(
        auto.some((l) => l.includes('re-creating')),
        auto.join('\n'),
      ).toBe(true);
      // The same findings again are not reported again.
      loop.requestPass(h1, 'test');
      await new Promise((res) => setTimeout(res, 200));
      expect((await jobsOf(t, 'host.reconcile')).length).toBe(2);
    } finally {
      await loop.stop();
      await t.deps.runner.drain();
    }
  });
});

describe('a re-POST converges for tunnels and attachments too', () => {
  it('an attachment whose plan lost its connection stays unknown; the same POST again re-attaches it (201, same id, same MAC)', async () => {
    const t = await world();
    t.world.on((argv) => (argv.join(' ').startsWith('ip link add') ? unreachable() : undefined));
    const body = { bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] };
    expect((await t.json('POST', '/attachments', body)).status).toBe(502);
    const [a] = (await (await t.json('GET', '/attachments')).json()).items;
    expect(a).toMatchObject({ state: 'unknown', ifname: 'eth1' });
    t.world.responders.shift();
    const again = await t.json('POST', '/attachments', body);
    const b = await again.json();
    expect(again.status, JSON.stringify(b)).toBe(201);
    expect(b).toMatchObject({ id: a.id, state: 'ready', job: { kind: 'attachment.repair' } });
    expect((await (await t.json('GET', '/attachments')).json()).items).toHaveLength(1);
  });

  it('a tunnel whose plan lost its connection stays unknown; the same POST again converges', async () => {
    const t = await testApp();
    for (const [name, ip] of [
      ['docker1', '10.10.10.101'],
      ['docker3', '192.168.50.101'],
    ] as const) {
      expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
      expect((await t.json('POST', '/bridges', { host: name, name: 'ovs_bridge' })).status).toBe(201);
    }
    t.world.on((argv, host) => (host === 'docker3' && argv.includes('add-port') ? unreachable() : undefined));
    const body = { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] };
    expect((await t.json('POST', '/tunnels', body)).status).toBe(502);
    const [tun] = (await (await t.json('GET', '/tunnels')).json()).items;
    expect(tun.state).toBe('unknown');
    t.world.responders.shift();
    const again = await t.json('POST', '/tunnels', body);
    const b = await again.json();
    expect(again.status, JSON.stringify(b)).toBe(201);
    expect(b).toMatchObject({ id: tun.id, state: 'ready', job: { kind: 'tunnel.repair' } });
  });
});

describe('a plan whose batch broke its framing on one host', () => {
  it("a tunnel whose second host's batch breaks its framing ends unknown; the first host's step is undone and logged", async () => {
    const t = await testApp();
    for (const [name, ip] of [
      ['docker1', '10.10.10.101'],
      ['docker3', '192.168.50.101'],
    ] as const) {
      expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
      expect((await t.json('POST', '/bridges', { host: name, name: 'ovs_bridge' })).status).toBe(201);
    }
    // What an executor raises when the batch's output cannot be parsed (something on the host wrote into it).
    t.world.on((argv, host) =>
      host === 'docker3' && argv.includes('add-port')
        ? Promise.reject(new BatchFramingError('batch output does not follow its framing: stderr: text after the last step ended'))
        : undefined,
    );
    t.world.calls = [];
    const body = { type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] };
    const r = await t.json('POST', '/tunnels', body);
    const p = await r.json();
    expect(r.status, JSON.stringify(p)).toBe(502);
    expect(p).toMatchObject({
      type: 'https://netplumb.dev/problems/host-unreachable',
      detail: expect.stringContaining('docker3: batch output'),
    });
    const [tun] = (await (await t.json('GET', '/tunnels')).json()).items;
    expect(tun.state).toBe('unknown');
    // docker1's port was added, then deleted again (the undo); docker3's is left to the reconcile loop (outcome unknown).
    const d1 = t.world.calls.filter((c) => c.host === 'docker1' && c.argv[0] === 'ovs-vsctl').map((c) => c.argv.join(' '));
    const added = d1.findIndex((c) => c.includes(`add-port ovs_bridge ${tun.endpoints[0].portName}`));
    const removed = d1.findIndex((c) => c.includes(`--if-exists del-port ovs_bridge ${tun.endpoints[0].portName}`));
    expect(added).toBeGreaterThanOrEqual(0);
    expect(removed).toBeGreaterThan(added);
    expect(t.world.calls.some((c) => c.host === 'docker3' && c.argv.includes('del-port'))).toBe(false);
    const logs = (await (await t.json('GET', `/jobs/${p.jobId}/logs?limit=500`)).json()).items as {
      host: string | null;
      stream: string;
      text: string;
    }[];
    const cmds = logs.filter((l) => l.host === 'docker1' && l.stream === 'cmd').map((l) => l.text);
    expect(cmds.findIndex((c) => c.includes('add-port'))).toBeGreaterThanOrEqual(0);
    expect(cmds.findIndex((c) => c.includes('del-port'))).toBeGreaterThan(cmds.findIndex((c) => c.includes('add-port')));
    expect(logs.some((l) => l.text === 'undoing 1 completed step(s) in reverse')).toBe(true);
    expect(logs.some((l) => l.stream === 'error' && l.text.includes('the outcome on the host is unknown'))).toBe(true);
  });
});

describe('the reconcile loop after a reboot', () => {
  it('a probe that sees another boot id makes the loop observe and repair the host', async () => {
    const t = await testApp();
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'br0' })).status).toBe(201);
    const loop = new Reconciler(t.deps, { intervalMs: 0, tickMs: 20, dockerEvents: false, log: () => {} }).start();
    const reconciles = async () =>
      (await (await t.json('GET', '/jobs?kind=host.reconcile&limit=500')).json()).items as { id: string; status: string }[];
    const settle = async (n: number) => {
      for (let i = 0; i < 250; i++) {
        const js = await reconciles();
        if (js.length >= n && js.every((j) => j.status !== 'running' && j.status !== 'queued')) return js;
        await new Promise((res) => setTimeout(res, 20));
      }
      return reconciles();
    };
    try {
      expect(await settle(1)).toHaveLength(1); // the start-up pass
      await new Promise((res) => setTimeout(res, 200));
      expect(await reconciles()).toHaveLength(1); // nothing triggers another one (no interval)
      t.world.on((argv) => (argv.join(' ') === 'cat /proc/sys/kernel/random/boot_id' ? { stdout: 'another-boot\n' } : undefined));
      expect((await t.json('POST', '/hosts/docker1/probe')).status).toBe(200);
      const js = await settle(2);
      expect(js).toHaveLength(2);
      const logs = ((await (await t.json('GET', `/jobs/${js[1]!.id}/logs?limit=500`)).json()).items as { text: string }[]).map(
        (l) => l.text,
      );
      expect(logs.some((l) => l.includes('booted again (boot id another-boot)'))).toBe(true);
    } finally {
      await loop.stop();
      await t.deps.runner.drain();
    }
  });
});

describe('a delete whose outcome is lost', () => {
  it('leaves the record unknown; the loop finishes the delete once the host answers', async () => {
    const t = await world();
    const b = await (await t.json('GET', '/bridges/docker1/ovs_bridge')).json();
    const down: Responder = (argv) => (argv.includes('del-br') ? unreachable() : undefined);
    t.world.on(down);
    // The fake host reports the bridge present, so the delete has something to do.
    t.world.on((argv) =>
      argv.join(' ').endsWith('find Bridge name=ovs_bridge')
        ? { stdout: JSON.stringify({ headings: ['name'], data: [['ovs_bridge']] }) }
        : undefined,
    );
    expect((await t.json('DELETE', `/bridges/${b.id}`)).status).toBe(502);
    expect((await (await t.json('GET', `/bridges/${b.id}`)).json()).state).toBe('unknown');
    t.world.responders.splice(t.world.responders.indexOf(down), 1); // the host answers again (del-br works)
    const loop = new Reconciler(t.deps, { intervalMs: 0, tickMs: 20, dockerEvents: false, log: () => {} }).start();
    try {
      for (let i = 0; i < 250 && (await t.json('GET', `/bridges/${b.id}`)).status !== 404; i++)
        await new Promise((res) => setTimeout(res, 20));
      expect((await t.json('GET', `/bridges/${b.id}`)).status).toBe(404);
    } finally {
      await loop.stop();
      await t.deps.runner.drain();
    }
    expect(t.world.calls.filter((c) => c.argv.includes('del-br'))).toHaveLength(2);
  });
});
