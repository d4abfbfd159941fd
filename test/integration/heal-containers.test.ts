/**
 * Self-healing on the seed scenario (two sandbox hosts with dockerd, a GRE tunnel, web1/web2 attached), the service
 * in-process with its reconcile loop: container restart → re-attached (same addresses and MAC) and traffic flows;
 * docker stop → target-stopped; a bridge deleted by hand → the loop re-creates it with its tunnel end and ports; a
 * tunnel port removed by hand → seen on the bridge too, repaired; a simulated reboot → everything back, curl works.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from './harness.js';

let w: World;
let web1 = 0;
let web2 = 0;
const ids: Record<string, string> = {};

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${w.baseUrl}${path}`, {
    method,
    ...(body !== undefined ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}
const observed = async (path: string) => (await call('GET', `${path}?observe=true`)).body;

const curlFrom = (host: string, pid: number, url: string, maxS = 3) =>
  w.sb.exec(host, ['nsenter', '-t', String(pid), '-n', 'curl', '-s', '-m', String(maxS), url], { timeoutMs: (maxS + 5) * 1000 });

const pidOf = async (host: string, name: string) =>
  Number((await w.sb.exec(host, ['docker', 'inspect', '-f', '{{.State.Pid}}', name])).stdout.trim());

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined | false>, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** curl from web1 to web2 through the tunnel answers (retried: ARP and the tunnel may need a moment). */
const curlWorks = (ms = 10_000) =>
  until(
    'curl web1 → web2',
    ms,
    async () => (await curlFrom('docker1', web1, 'http://10.11.12.200', 1)).stdout.includes('Web Server #2'),
    100,
  );

beforeAll(async () => {
  // Periodic passes off: the drills below trigger the loop themselves (events, requestPass), so they stay deterministic.
  w = await startWorld('h14a', undefined, { reconcile: { intervalMs: 0, tickMs: 200 } });
  await w.registerHosts();
  ids.br1 = (await w.np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).id;
  ids.br3 = (await w.np.bridges.create({ host: 'docker3', name: 'ovs_bridge', addresses: ['10.11.12.2/24'] })).id;
  ids.docker0 = (await w.np.bridges.create({ host: 'docker3', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] })).id;
  web1 = await w.sb.startWeb('docker1', 'web1', 1);
  web2 = await w.sb.startWeb('docker3', 'web2', 2);
  ids.tun = (
    await w.np.tunnels.create({ type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] })
  ).id;
  ids.a1 = (
    await w.np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] })
  ).id;
  ids.a2 = (
    await w.np.attachments.create({ bridge: 'docker3/ovs_bridge', target: { container: 'web2' }, addresses: ['10.11.12.200/24'] })
  ).id;
  ids.a2eth0 = (
    await w.np.attachments.create({
      bridge: 'docker3/docker0',
      target: { container: 'web2' },
      ifname: 'eth0',
      addresses: ['172.17.0.100/16'],
      gateway: '172.17.0.1',
    })
  ).id;
  await curlWorks();
}, 240_000);

afterAll(async () => {
  await w?.close();
});

describe('containers that restart keep their network', () => {
  it('observe=true on an attachment reports both ends, paired, no drift', async () => {
    const a = await observed(`/attachments/${ids.a1}`);
    expect(a.observed.drift).toEqual([]);
    expect(a.observed.inside).toMatchObject({ exists: true, paired: true, up: true, addresses: ['10.11.12.100/24'] });
    expect(a.observed.hostEnd).toMatchObject({ exists: true, owner: ids.a1, bridge: 'ovs_bridge', operstate: 'up' });
    expect(a.observed.inside.mac).toMatch(/^02:/);
  });

  it('docker restart web1 → re-attached with the same address and MAC, traffic flows again (time measured)', async () => {
    const before = await observed(`/attachments/${ids.a1}`);
    const mac = before.observed.inside.mac;
    const t0 = Date.now();
    const r = await w.sb.exec('docker1', ['docker', 'restart', '-t', '0', 'web1'], { timeoutMs: 30_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const tRestarted = Date.now();
    web1 = await pidOf('docker1', 'web1');
    const back = await until('the attachment back', 15_000, async () => {
      const a = await observed(`/attachments/${ids.a1}`);
      return a.state === 'ready' && a.resolved.pid === web1 && a.observed.drift.length === 0 && a.observed.inside.mac === mac && a;
    });
    const tAttached = Date.now();
    await curlWorks(15_000);
    const tTraffic = Date.now();
    console.log(
      `[h14a] docker restart took ${tRestarted - t0} ms; after it returned: attachment back (observed, no drift) in ${tAttached - tRestarted} ms, curl through the tunnel answers in ${tTraffic - tRestarted} ms (${tTraffic - t0} ms from the restart command)`,
    );
    expect(back.observed.inside.addresses).toEqual(['10.11.12.100/24']);
    const jobs = (await call('GET', `/jobs?kind=attachment.reattach&resource=${ids.a1}`)).body;
    expect(jobs.items.length).toBeGreaterThan(0);
    // The bound: back within 2 s of the restart (measured here ~0.2-0.3 s once `docker restart` returns).
    expect(tTraffic - tRestarted).toBeLessThanOrEqual(2000);
  });

  it('docker stop → target-stopped (with its drift), docker start → ready and curl works', async () => {
    expect((await w.sb.exec('docker1', ['docker', 'stop', '-t', '0', 'web1'], { timeoutMs: 30_000 })).exitCode).toBe(0);
    await until('target-stopped', 10_000, async () => (await call('GET', `/attachments/${ids.a1}`)).body.state === 'target-stopped');
    const a = await observed(`/attachments/${ids.a1}`);
    expect(a.observed.drift).toEqual([{ field: 'target', desired: 'running', actual: 'stopped' }]);
    expect((await w.sb.exec('docker1', ['docker', 'start', 'web1'], { timeoutMs: 30_000 })).exitCode).toBe(0);
    web1 = await pidOf('docker1', 'web1');
    await until('ready again', 15_000, async () => {
      const x = (await call('GET', `/attachments/${ids.a1}`)).body;
      return x.state === 'ready' && x.resolved.pid === web1;
    });
    await curlWorks(15_000);
  });
});

describe('a PATCH during a re-attach (issue 24)', () => {
  it('docker start, then a PATCH 160–310 ms later, 20 times: every PATCH answered 200 is in GET and in the container', async () => {
    const kept: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        expect((await w.sb.exec('docker1', ['docker', 'stop', '-t', '0', 'web1'], { timeoutMs: 30_000 })).exitCode).toBe(0);
        await until('target-stopped', 10_000, async () => (await call('GET', `/attachments/${ids.a1}`)).body.state === 'target-stopped');
        expect((await w.sb.exec('docker1', ['docker', 'start', 'web1'], { timeoutMs: 30_000 })).exitCode).toBe(0);
        await new Promise((r) => setTimeout(r, 160 + ((i * 37) % 150)));
        const route = { to: `10.${60 + i}.0.0/16`, via: '10.11.12.1' };
        const patched = await call('PATCH', `/attachments/${ids.a1}`, { routes: [route] });
        // Refused while the re-attach holds the record (409, nothing accepted) is fair; a 200 must stick.
        expect([200, 409], JSON.stringify(patched.body)).toContain(patched.status);
        web1 = await pidOf('docker1', 'web1');
        const settled = await until('ready in the new namespace', 15_000, async () => {
          const x = (await call('GET', `/attachments/${ids.a1}`)).body;
          return x.state === 'ready' && x.resolved.pid === web1 && x;
        });
        if (patched.status !== 200) continue;
        kept.push(route.to);
        expect(settled.routes).toEqual([route]);
        const inside = await w.sb.exec('docker1', ['nsenter', '-t', String(web1), '-n', 'ip', 'route', 'show', route.to]);
        expect(inside.stdout, `iteration ${i}`).toContain('via 10.11.12.1');
      }
      // Most of them are accepted (a run where every PATCH is refused would prove nothing).
      expect(kept.length).toBeGreaterThan(10);
    } finally {
      await call('PATCH', `/attachments/${ids.a1}`, { routes: [] });
    }
    await curlWorks(15_000);
  });
});

describe('the target namespace during a job', () => {
  it('a container restarted mid-attach → the job fails cleanly (undone, no record, nothing left); attaching again works', async () => {
    await w.sb.startWeb('docker1', 'web3', 1);
    const vswitchd = Number(readFileSync(path.join(w.sb.host('docker1').ovsRundir, 'ovs-vswitchd.pid'), 'utf8').trim());
    const before = (await w.sb.exec('docker1', ['ip', '-o', 'link', 'show'])).stdout.split('\n').length;
    // ovs-vswitchd stopped holds the batch at its OVS step, after the veth was made in the container's namespace.
    process.kill(vswitchd, 'SIGSTOP');
    let job = '';
    try {
      const r = await fetch(`${w.baseUrl}/attachments`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Prefer: 'respond-async' },
        body: JSON.stringify({ bridge: 'docker1/ovs_bridge', target: { container: 'web3' }, addresses: ['10.11.12.103/24'] }),
      });
      job = ((await r.json()) as { job: { id: string } }).job.id;
      await until(
        'the veth made',
        10_000,
        async () => (await w.sb.exec('docker1', ['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout.includes('np'),
        50,
      );
      expect((await w.sb.exec('docker1', ['docker', 'restart', '-t', '0', 'web3'], { timeoutMs: 30_000 })).exitCode).toBe(0);
    } finally {
      process.kill(vswitchd, 'SIGCONT');
    }
    const done = await until('the job ended', 30_000, async () => {
      const j = (await call('GET', `/jobs/${job}`)).body;
      return j.status !== 'running' && j.status !== 'queued' && j;
    });
    expect(done.status).toBe('failed');
    expect((await call('GET', '/attachments?container=web3')).body.items).toEqual([]);
    expect((await w.sb.exec('docker1', ['ip', '-o', 'link', 'show'])).stdout.split('\n').length).toBe(before);
    const ports = (await w.sb.exec('docker1', ['ovs-vsctl', 'list-ports', 'ovs_bridge'])).stdout.split('\n').filter(Boolean);
    const tun = (await call('GET', `/tunnels/${ids.tun}`)).body;
    const a1 = (await call('GET', `/attachments/${ids.a1}`)).body;
    expect(ports.sort()).toEqual([tun.endpoints[0].portName, a1.hostIfname].sort());
    const again = await call('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web3' },
      addresses: ['10.11.12.103/24'],
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect((await call('DELETE', `/attachments/${again.body.id}`)).status).toBe(204);
  });
});

describe('out-of-band changes are repaired', () => {
  it('a tunnel port removed by hand shows on the bridge and the tunnel; POST /tunnels/{id}/repair puts it back', async () => {
    const tun = (await call('GET', `/tunnels/${ids.tun}`)).body;
    const port = tun.endpoints[0].portName;
    expect((await w.sb.exec('docker1', ['ovs-vsctl', 'del-port', 'ovs_bridge', port])).exitCode).toBe(0);
    const br = await observed(`/bridges/${ids.br1}`);
    expect(br.observed.drift).toContainEqual({ field: `port:${port}`, desired: ids.tun, actual: null });
    const t = await observed(`/tunnels/${ids.tun}`);
    expect(t.observed.drift).toContainEqual({ field: 'docker1:exists', desired: true, actual: false });
    const r = await call('POST', `/tunnels/${ids.tun}/repair`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.kind).toBe('tunnel.repair');
    expect((await observed(`/tunnels/${ids.tun}`)).observed.drift).toEqual([]);
    expect((await observed(`/bridges/${ids.br1}`)).observed.drift).toEqual([]);
    await curlWorks();
  });

  it('a bridge deleted by hand → the reconcile loop re-creates it with its address, tunnel end and attachment port', async () => {
    expect((await w.sb.exec('docker1', ['ovs-vsctl', 'del-br', 'ovs_bridge'])).exitCode).toBe(0);
    expect((await observed(`/bridges/${ids.br1}`)).observed.drift).toEqual([{ field: 'exists', desired: true, actual: false }]);
    const host = (await call('GET', '/hosts/docker1')).body;
    w.reconciler!.requestPass(host.id, 'test: bridge deleted by hand');
    await until(
      'all repaired',
      20_000,
      async () => {
        const [b, t, a] = await Promise.all([
          observed(`/bridges/${ids.br1}`),
          observed(`/tunnels/${ids.tun}`),
          observed(`/attachments/${ids.a1}`),
        ]);
        return b.observed.drift.length === 0 && t.observed.drift.length === 0 && a.observed.drift.length === 0;
      },
      250,
    );
    const jobs = (await call('GET', `/jobs?kind=host.reconcile&resource=${host.id}`)).body;
    expect(jobs.items.at(-1).status).toBe('succeeded');
    await curlWorks();
  });
});

describe('a simulated reboot of docker3', () => {
  it('namespaces, veths and Linux bridges gone (OVS database kept) → everything the service owned is back, the seed curl works', async () => {
    // What a reboot does to the kernel state: containers restart in new namespaces, the Linux bridge and every veth are
    // gone, the OVS bridges' internal ports come back without addresses and down. The OVS database is kept.
    await w.sb.exec('docker3', ['docker', 'stop', '-t', '0', 'web2'], { timeoutMs: 30_000 });
    await w.sb.exec('docker3', ['ip', 'link', 'del', 'dev', 'docker0']);
    await w.sb.exec('docker3', ['ip', 'addr', 'flush', 'dev', 'ovs_bridge']);
    await w.sb.exec('docker3', ['ip', 'link', 'set', 'dev', 'ovs_bridge', 'down']);
    expect((await w.sb.exec('docker3', ['docker', 'start', 'web2'], { timeoutMs: 30_000 })).exitCode).toBe(0);
    web2 = await pidOf('docker3', 'web2');
    const host = (await call('GET', '/hosts/docker3')).body;
    w.reconciler!.requestPass(host.id, 'test: simulated reboot');
    await until(
      'docker3 back',
      30_000,
      async () => {
        const all = await Promise.all(
          [
            `/bridges/${ids.br3}`,
            `/bridges/${ids.docker0}`,
            `/tunnels/${ids.tun}`,
            `/attachments/${ids.a2}`,
            `/attachments/${ids.a2eth0}`,
          ].map(observed),
        );
        return all.every((x) => x.state === 'ready' && x.observed.drift.length === 0);
      },
      250,
    );
    await curlWorks(15_000);
    const r = await curlFrom('docker3', web2, 'http://10.11.12.100');
    expect(r.stdout).toContain('Web Server #1');
    const route = await w.sb.exec('docker3', ['nsenter', '-t', String(web2), '-n', 'ip', 'route', 'show', 'default']);
    expect(route.stdout.trim()).toMatch(/^default via 172\.17\.0\.1 dev eth0/);
  });

  it('no orphans were left on either host', async () => {
    for (const h of ['docker1', 'docker3']) expect((await call('GET', `/hosts/${h}/orphans`)).body.items).toEqual([]);
  });
});
