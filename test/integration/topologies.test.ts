/**
 * Topologies on real sandbox hosts over SSH. The seed as one document: apply, curl web1 → web2 through the tunnel,
 * an unchanged re-apply runs no command at all, an edit (a new member, a moved address, gre → vxlan) runs only that
 * change, delete leaves both hosts' listings as before. A failure injected mid-apply on the second host leaves both
 * hosts as they were. Three hosts in one full-mesh network: every pair reaches each other, and a broadcast arrives
 * once at each member (split horizon), not in a loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxHostSpec } from '../testbed/sandbox.js';
import { startWorld, type World } from './harness.js';

async function call(w: World, method: string, path: string, body?: unknown) {
  const r = await fetch(`${w.baseUrl}${path}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json', Prefer: 'wait=120' } : { Prefer: 'wait=120' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

/** Everything netplumb could touch on a host, as text (veths, OVS bridges and ports, Linux bridges, tunnel devices). */
async function listing(w: World, host: string): Promise<string> {
  const run = async (argv: string[]) => (await w.ssh(host, argv)).stdout.trim();
  const links = (await run(['ip', '-o', 'link', 'show']))
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
    .sort()
    .join(' ');
  const bridges = await run(['ovs-vsctl', 'list-br']);
  const ports = await Promise.all(
    bridges
      .split('\n')
      .filter(Boolean)
      .map(async (b) => `${b}: ${(await run(['ovs-vsctl', 'list-ports', b])).split('\n').join(' ')}`),
  );
  return [links, ...ports].join('\n');
}

/** The commands a job ran that change something (reads left out). */
async function mutatingCommands(w: World, jobId: string): Promise<string[]> {
  const lines = (await call(w, 'GET', `/jobs/${jobId}/logs?limit=1000`)).body.items as { stream: string; text: string }[];
  const reads = /( -j |^stat | list-ports | br-exists | br-get-external-id | find | port-to-br |^ovs-vsctl --timeout=10 --format=json)/;
  return lines.filter((l) => l.stream === 'cmd' && !reads.test(l.text)).map((l) => l.text);
}

describe('the seed as a topology', () => {
  let w: World;
  const pids: Record<string, number> = {};
  const before: Record<string, string> = {};
  const seed = (over: { tunnel?: string; web1?: string; extra?: boolean } = {}) => ({
    networks: {
      web: {
        bridge: { type: 'ovs', name: 'ovs_bridge' },
        subnet: '10.11.12.0/24',
        tunnel: { type: over.tunnel ?? 'gre' },
        hostAddresses: 'auto',
        members: [
          { host: 'docker1', container: 'web1', address: over.web1 ?? '10.11.12.100' },
          { host: 'docker3', container: 'web2', address: '10.11.12.200' },
          ...(over.extra ? [{ host: 'docker3', container: 'web3' }] : []),
        ],
      },
      docker0: {
        bridge: { type: 'linux', name: 'docker0' },
        subnet: '172.17.0.0/16',
        hostAddresses: { docker3: '172.17.0.1' },
        members: [{ host: 'docker3', container: 'web2', ifname: 'eth0', address: '172.17.0.100', gateway: '172.17.0.1' }],
      },
    },
  });
  const curl = async (from: string, host: string, url: string) =>
    (await w.sb.exec(host, ['nsenter', '-t', String(pids[from]), '-n', 'curl', '-s', '-m', '10', url])).stdout.trim();

  beforeAll(async () => {
    w = await startWorld('tp1');
    await w.registerHosts();
    pids.web1 = await w.sb.startWeb('docker1', 'web1', 1);
    pids.web2 = await w.sb.startWeb('docker3', 'web2', 2);
    pids.web3 = await w.sb.startWeb('docker3', 'web3', 2);
    for (const h of ['docker1', 'docker3']) before[h] = await listing(w, h);
  }, 180_000);
  afterAll(async () => {
    await w?.close();
  });

  it('apply: web1 reaches web2 through the tunnel; both hosts got exactly the document', async () => {
    const r = await call(w, 'PUT', '/topologies/seed', seed());
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.job.status).toBe('succeeded');
    expect(Object.keys(r.body.resources).sort()).toEqual([
      'attachment:docker0/docker3/web2',
      'attachment:web/docker1/web1',
      'attachment:web/docker3/web2',
      'bridge:docker0/docker3',
      'bridge:web/docker1',
      'bridge:web/docker3',
      'tunnel:web/docker1~docker3',
    ]);
    expect(await curl('web1', 'docker1', 'http://10.11.12.200')).toContain('Web Server #2');
    expect(await curl('web2', 'docker3', 'http://10.11.12.100')).toContain('Web Server #1');
    const route = (await w.sb.exec('docker3', ['nsenter', '-t', String(pids.web2), '-n', 'ip', 'route', 'show', 'default'])).stdout;
    expect(route).toContain('via 172.17.0.1 dev eth0');
  });

  it('an unchanged re-apply runs no command that changes anything', async () => {
    const r = await call(w, 'PUT', '/topologies/seed', seed());
    expect(r.status).toBe(200);
    expect(r.body.plan.changes).toEqual([]);
    expect(await mutatingCommands(w, r.body.job.id)).toEqual([]);
  });

  it('an edit runs only its change: a new member, a moved address, gre → vxlan', async () => {
    const r = await call(w, 'PUT', '/topologies/seed', seed({ tunnel: 'vxlan', web1: '10.11.12.101', extra: true }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // VXLAN leaves 8 bytes less than keyed GRE: the members' MTU follows the overlay MTU, end to end.
    expect(
      r.body.plan.changes
        .map((c: { action: string; slot: string; fields: string[] }) => `${c.action} ${c.slot} ${c.fields.join(',')}`)
        .sort(),
    ).toEqual([
      'create attachment:web/docker3/web3 ',
      'replace tunnel:web/docker1~docker3 type,endpoints',
      'update attachment:web/docker1/web1 addresses,mtu',
      'update attachment:web/docker3/web2 mtu',
    ]);
    const cmds = await mutatingCommands(w, r.body.job.id);
    // Nothing for docker0 or the bridges; for web2 only its MTU.
    expect(
      cmds.filter((c) => c.includes('docker0') || c.includes('add-br') || (c.includes(String(pids.web2)) && !c.includes(' mtu 1450'))),
    ).toEqual([]);
    expect(cmds.some((c) => c.includes('type=vxlan'))).toBe(true);
    expect(cmds.some((c) => c.includes('del-port ovs_bridge gre-'))).toBe(true);
    expect(await curl('web1', 'docker1', 'http://10.11.12.200')).toContain('Web Server #2');
    expect(await curl('web2', 'docker3', 'http://10.11.12.101')).toContain('Web Server #1');
    const web3 = r.body.allocations.memberAddresses['web/docker3/web3'].split('/')[0];
    expect(await curl('web1', 'docker1', `http://${web3}`)).toContain('Web Server #2');
  });

  it('delete: everything it made is gone; both hosts list exactly what they had before', async () => {
    const r = await call(w, 'DELETE', '/topologies/seed');
    expect(r.status).toBe(204);
    for (const h of ['docker1', 'docker3']) expect(await listing(w, h)).toBe(before[h]);
    expect((await call(w, 'GET', '/bridges')).body.items).toEqual([]);
  });

  it('a failure injected mid-apply on the second host leaves both hosts as they were, and no topology behind', async () => {
    const bad = seed();
    // A route through a gateway that is not on the link: the kernel refuses it, late in docker3's batch.
    (bad.networks.web.members[1] as Record<string, unknown>).routes = [{ to: '10.99.0.0/16', via: '10.77.0.1' }];
    const r = await call(w, 'PUT', '/topologies/seed', bad);
    expect(r.status).toBe(502);
    expect(r.body.detail).toMatch(/route 10\.99\.0\.0\/16 via 10\.77\.0\.1 failed on docker3/);
    const logs = (await call(w, 'GET', `/jobs/${r.body.jobId}/logs?limit=1000`)).body.items as { text: string }[];
    expect(logs.some((l) => l.text.startsWith('undoing'))).toBe(true);
    for (const h of ['docker1', 'docker3']) expect(await listing(w, h)).toBe(before[h]);
    expect((await call(w, 'GET', '/topologies/seed')).status).toBe(404);
  });
});

describe('three hosts, one network, full mesh', () => {
  let w: World;
  const HOSTS: SandboxHostSpec[] = [
    { name: 'h1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
    { name: 'h2', underlayCidr: '192.168.50.101/24', underlayGw: '192.168.50.1' },
    { name: 'h3', underlayCidr: '172.31.7.101/24', underlayGw: '172.31.7.1' },
  ];
  const ns = (h: string) => `tpm-${h}`;
  const inNs = (h: string, argv: string[]) => w.ssh(h, ['ip', 'netns', 'exec', ns(h), ...argv]);

  beforeAll(async () => {
    w = await startWorld('tp2', HOSTS, { withDocker: false });
    await w.registerHosts();
    for (const h of HOSTS) expect((await w.ssh(h.name, ['ip', 'netns', 'add', ns(h.name)])).exitCode).toBe(0);
  }, 180_000);
  afterAll(async () => {
    for (const h of HOSTS) await w?.ssh(h.name, ['ip', 'netns', 'del', ns(h.name)]).catch(() => undefined);
    await w?.close();
  });

  it('every pair reaches each other; a broadcast arrives once at each other member', async () => {
    const doc = {
      networks: {
        lan: {
          subnet: '10.44.0.0/24',
          tunnel: { type: 'vxlan' },
          members: HOSTS.map((h, i) => ({ host: h.name, netns: ns(h.name), address: `10.44.0.${11 + i}` })),
        },
      },
    };
    const r = await call(w, 'PUT', '/topologies/mesh', doc);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(Object.keys(r.body.resources).filter((s) => s.startsWith('tunnel:'))).toHaveLength(3);
    for (const [i, a] of HOSTS.entries()) {
      for (const [j] of HOSTS.entries()) {
        if (i === j) continue;
        expect((await inNs(a.name, ['ping', '-c', '1', '-W', '3', `10.44.0.${11 + j}`])).exitCode, `${a.name} → 10.44.0.${11 + j}`).toBe(0);
      }
    }
    // Listen on h2 and h3, send one broadcast from h1, count what arrives (a loop would deliver it again and again).
    const listen = (h: string) => inNs(h, ['timeout', '4', 'tcpdump', '-l', '-n', '-i', 'eth1', 'icmp and dst host 10.44.0.255']);
    const captures = [listen('h2'), listen('h3')];
    await new Promise((res) => setTimeout(res, 1000));
    await inNs('h1', ['ping', '-b', '-c', '1', '-W', '1', '10.44.0.255']);
    const seen = await Promise.all(captures);
    for (const c of seen) expect(c.stdout.split('\n').filter((l) => l.includes('ICMP echo request'))).toHaveLength(1);
    expect((await call(w, 'DELETE', '/topologies/mesh')).status).toBe(204);
  });
});
