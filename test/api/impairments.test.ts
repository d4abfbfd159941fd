/**
 * Impairments and cable pulls through the API with the fake host: PATCH runs only tc/nft/ip-link commands (no
 * re-attach), 422s with pointers before any command or job, a failed change is undone and the record restored,
 * tunnels (Linux ends yes, OVS ends refused with the reason), topology members changed in place, observe drift.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { TRAFFIC_CONTROL_ALL } from '../helpers/fake-host.js';
import { newId } from '../../src/model/names.js';
import { trafficControlProbe } from '../../src/ops/probe.js';
import type { TunnelData } from '../../src/model/tunnels.js';

async function world(o: { netem?: boolean } = {}) {
  const t = await testApp();
  if (o.netem) t.world.on((argv) => (argv.join('\0') === trafficControlProbe.join('\0') ? { stdout: TRAFFIC_CONTROL_ALL } : undefined));
  for (const [name, ip] of [
    ['docker1', '10.10.10.101'],
    ['docker3', '192.168.50.101'],
  ] as const)
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] })).status).toBe(201);
  t.world.containers.set('web1', { id: 'c0ffee'.padEnd(64, '0'), pid: 4242, running: true });
  t.world.on((argv) =>
    argv[0] === 'nsenter' && argv.includes('link') && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined,
  );
  const r = await t.json('POST', '/attachments', {
    bridge: 'docker1/ovs_bridge',
    target: { container: 'web1' },
    addresses: ['10.11.12.100/24'],
  });
  expect(r.status).toBe(201);
  const att = (await r.json()) as { id: string; hostIfname: string; ifname: string };
  t.world.calls = [];
  const jobs = async () => (await (await t.json('GET', '/jobs?limit=500')).json()).items.length as number;
  const logs = async (jobId: string) =>
    ((await (await t.json('GET', `/jobs/${jobId}/logs?limit=1000`)).json()).items as { stream: string; text: string }[])
      .filter((l) => l.stream === 'cmd')
      .map((l) => l.text);
  return { ...t, att, jobs, logs };
}

const argvs = (calls: { argv: string[] }[]) => calls.map((c) => c.argv.join(' '));

describe('PATCH /attachments/{id}', () => {
  it('loss and rate per direction, live: tc on the host end, tc and an nftables table inside; no veth made, addresses untouched', async () => {
    const t = await world();
    const r = await t.json('PATCH', `/attachments/${t.att.id}`, {
      impairment: { toContainer: { lossPercent: 30, rateMbit: 5 }, fromContainer: { rateMbit: 2.5 } },
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(200);
    expect(a).toMatchObject({
      impairment: { toContainer: { lossPercent: 30, rateMbit: 5 }, fromContainer: { rateMbit: 2.5 } },
      link: 'up',
      addresses: ['10.11.12.100/24'],
      state: 'ready',
      job: { kind: 'attachment.update', status: 'succeeded' },
    });
    const ran = argvs(t.world.calls).filter((c) => !c.includes('inspect'));
    expect(ran).toEqual([
      `tc qdisc del dev ${t.att.hostIfname} root`,
      'tc -batch -',
      'nsenter --net=/proc/4242/ns/net tc qdisc del dev eth1 root',
      'nsenter --net=/proc/4242/ns/net tc -batch -',
      'nsenter --net=/proc/4242/ns/net nft -f -',
    ]);
    const cmds = (await t.logs(a.job.id)).join('\n');
    expect(cmds).toContain(`qdisc add dev ${t.att.hostIfname} root handle 10: tbf rate 5000kbit`);
    expect(cmds).toContain('qdisc add dev eth1 root handle 10: tbf rate 2500kbit');
    expect(cmds).toContain('numgen random mod 10000 < 3000 counter drop');
  });

  it('link down pulls the cable (the host end down), up plugs it back', async () => {
    const t = await world();
    const down = await (await t.json('PATCH', `/attachments/${t.att.id}`, { link: 'down' })).json();
    expect(down.link).toBe('down');
    expect(argvs(t.world.calls)).toContain(`ip link set dev ${t.att.hostIfname} down`);
    t.world.calls = [];
    const up = await (await t.json('PATCH', `/attachments/${t.att.id}`, { link: 'up' })).json();
    expect(up.link).toBe('up');
    expect(argvs(t.world.calls)).toContain(`ip link set dev ${t.att.hostIfname} up`);
  });

  it('nonsense and what this kernel lacks: 422 with pointers, before any command or job', async () => {
    const t = await world();
    const before = await t.jobs();
    for (const [body, pointers] of [
      [{ impairment: { toContainer: { lossPercent: 101 } } }, ['/impairment/toContainer/lossPercent']],
      [{ impairment: { fromContainer: { delayMs: -5 } } }, ['/impairment/fromContainer/delayMs']],
      [{ impairment: { toContainer: { jitterMs: 3 } } }, ['/impairment/toContainer/jitterMs']],
      [
        { impairment: { toContainer: { delayMs: 100 }, fromContainer: { duplicatePercent: 1 } } },
        ['/impairment/toContainer/delayMs', '/impairment/fromContainer/duplicatePercent'],
      ],
    ] as const) {
      const r = await t.json('PATCH', `/attachments/${t.att.id}`, body);
      const p = await r.json();
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(p.errors.map((e: { pointer: string }) => e.pointer)).toEqual(pointers);
    }
    const netem = await (await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { toContainer: { delayMs: 100 } } })).json();
    expect(netem.detail).toMatch(/netem qdisc, which docker1's kernel lacks/);
    expect(t.world.calls).toEqual([]);
    expect(await t.jobs()).toBe(before);
  });

  it('with netem: delay, jitter and corruption through netem, rate under it', async () => {
    const t = await world({ netem: true });
    const r = await t.json('PATCH', `/attachments/${t.att.id}`, {
      impairment: { toContainer: { delayMs: 100, jitterMs: 10, corruptPercent: 0.5, rateMbit: 10 } },
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(200);
    const cmds = (await t.logs(a.job.id)).join('\n');
    expect(cmds).toContain(`qdisc add dev ${t.att.hostIfname} root handle 1: netem limit 10000 delay 100ms 10ms corrupt 0.5%`);
    expect(cmds).toContain(`qdisc add dev ${t.att.hostIfname} parent 1:1 handle 10: tbf rate 10000kbit`);
  });

  it('a failed change is undone: the earlier qdiscs back, the record as it was', async () => {
    const t = await world();
    expect((await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { toContainer: { rateMbit: 5 } } })).status).toBe(200);
    t.world.calls = [];
    t.world.on((argv) =>
      argv.includes('nft') && argv.includes('-f') ? { exitCode: 1, stderr: 'Error: Could not process rule' } : undefined,
    );
    const r = await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { toContainer: { rateMbit: 10, lossPercent: 5 } } });
    expect(r.status).toBe(502);
    const p = await r.json();
    expect(p.detail).toContain('Could not process rule');
    const ran = argvs(t.world.calls).filter((c) => !c.includes('inspect'));
    // forward: clear, new tbf, nft (fails, its own undo too); back: nft undo, root cleared, the 5 Mbit/s tbf again
    expect(ran).toEqual([
      `tc qdisc del dev ${t.att.hostIfname} root`,
      'tc -batch -',
      'nsenter --net=/proc/4242/ns/net nft -f -',
      'nsenter --net=/proc/4242/ns/net nft -f -',
      `tc qdisc del dev ${t.att.hostIfname} root`,
      'tc -batch -',
    ]);
    const logs = await t.logs(p.jobId);
    expect(logs.at(-1)).toContain(`qdisc add dev ${t.att.hostIfname} root handle 10: tbf rate 5000kbit`);
    const a = await (await t.json('GET', `/attachments/${t.att.id}`)).json();
    expect(a).toMatchObject({ impairment: { toContainer: { rateMbit: 5 }, fromContainer: {} }, state: 'ready' });
  });

  it('after a container restart the drop device is gone with its namespace: a PATCH makes it again', async () => {
    const t = await world();
    expect((await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { fromContainer: { lossPercent: 30 } } })).status).toBe(200);
    const drop = `npd${t.att.id.slice(-12)}`;
    t.world.on((argv) =>
      argv.includes('show') && argv.includes(drop) ? { exitCode: 1, stderr: `Device "${drop}" does not exist.` } : undefined,
    );
    t.world.calls = [];
    expect((await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { fromContainer: { lossPercent: 20 } } })).status).toBe(200);
    expect(argvs(t.world.calls)).toContain(`nsenter --net=/proc/4242/ns/net ip link add name ${drop} type ifb`);
  });

  it('a host probed before impairments existed: 409 asking for a probe', async () => {
    const t = await world();
    const host = (await t.store.getResourceByKey('host', 'docker1'))!;
    const data = host.data as { facts: Record<string, unknown> };
    await t.store.updateResource({ ...host, data: { ...data, facts: { ...data.facts, trafficControl: undefined } } });
    const r = await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { toContainer: { lossPercent: 1 } } });
    expect(r.status).toBe(409);
    expect((await r.json()).detail).toContain('POST /hosts/docker1/probe');
    // clearing needs no facts
    expect((await t.json('PATCH', `/attachments/${t.att.id}`, { link: 'down' })).status).toBe(200);
  });

  it('observe: what the host has, and drift from the record', async () => {
    const t = await world();
    expect((await t.json('PATCH', `/attachments/${t.att.id}`, { impairment: { toContainer: { rateMbit: 5 } } })).status).toBe(200);
    t.world.on((argv) => {
      const cmd = argv.join(' ');
      if (cmd === `tc -j qdisc show dev ${t.att.hostIfname}`)
        return { stdout: JSON.stringify([{ kind: 'tbf', handle: '10:', root: true, options: { rate: 250000 } }]) };
      if (cmd === `ip -j link show dev ${t.att.hostIfname}`)
        return { stdout: JSON.stringify([{ ifname: t.att.hostIfname, flags: ['UP', 'LOWER_UP'] }]) };
      // Both veth ends present and paired (the ends' part of observe: ops/attachment-observe.ts).
      if (cmd === `ip -j -d addr show dev ${t.att.hostIfname}`)
        return { stdout: JSON.stringify([{ ifname: t.att.hostIfname, ifindex: 7, flags: ['UP', 'LOWER_UP'], operstate: 'UP' }]) };
      if (cmd.endsWith(`ip -j -d addr show dev ${t.att.ifname}`))
        return { stdout: JSON.stringify([{ ifname: t.att.ifname, ifindex: 2, link_index: 7, flags: ['UP'], operstate: 'UP' }]) };
      if (cmd.endsWith(`ip -j -4 route show dev ${t.att.ifname}`)) return { stdout: '[]' };
      return undefined;
    });
    const o = await (await t.json('GET', `/attachments/${t.att.id}?observe=true`)).json();
    expect(o.observed).toMatchObject({ impairment: { toContainer: { rateMbit: 2 }, fromContainer: {} }, link: 'up' });
    expect(o.observed.inside).toMatchObject({ exists: true, paired: true });
    expect(o.observed.drift).toContainEqual({ field: 'impairment.toContainer', desired: { rateMbit: 5 }, actual: { rateMbit: 2 } });
    expect(o.observed.drift.map((x: { field: string }) => x.field)).not.toContain('link');
  });

  it('POST /attachments takes impairment and link too (applied right after the veth, undone with it)', async () => {
    const t = await world();
    const r = await t.json('POST', '/attachments', {
      bridge: 'docker1/ovs_bridge',
      target: { container: 'web1' },
      ifname: 'eth2',
      impairment: { fromContainer: { lossPercent: 2 } },
      link: 'down',
    });
    const a = await r.json();
    expect(r.status, JSON.stringify(a)).toBe(201);
    expect(a).toMatchObject({ impairment: { fromContainer: { lossPercent: 2 }, toContainer: {} }, link: 'down' });
    const ran = argvs(t.world.calls);
    const drop = `npd${a.id.slice(-12)}`;
    // At create the target's namespace is held for the whole batch (ops/attachments.ts holdingNamespace).
    const held = `/run/netplumb/ns/${a.id}`;
    expect(ran.indexOf(`nsenter --net=${held} ip link add name ${drop} type ifb`)).toBeGreaterThan(
      ran.findIndex((c) => c.includes('add-port')),
    );
    expect(ran).toContain(`nsenter --net=${held} tc -batch -`);
    expect(ran).toContain(`ip link set dev ${a.hostIfname} down`);
    // delete removes what it left inside the target too (the loss table, the drop device)
    t.world.calls = [];
    expect((await t.json('DELETE', `/attachments/${a.id}`)).status).toBe(204);
    expect(argvs(t.world.calls)).toContain('nsenter --net=/proc/4242/ns/net nft -f -');
    expect(argvs(t.world.calls)).toContain(`nsenter --net=/proc/4242/ns/net ip link del dev ${drop}`);
  });
});

describe('PATCH /tunnels/{id}', () => {
  async function tunnel(t: Awaited<ReturnType<typeof world>>, type: 'ovs' | 'linux') {
    const hosts = await Promise.all(['docker1', 'docker3'].map(async (n) => (await t.store.getResourceByKey('host', n))!));
    const id = newId('tunnel');
    const end = (i: 0 | 1) => ({
      bridgeId: newId('bridge'),
      bridgeName: type === 'ovs' ? 'ovs_bridge' : 'lx',
      bridgeType: type,
      datapathType: type === 'ovs' ? ('netdev' as const) : null,
      hostId: hosts[i]!.id,
      hostName: i === 0 ? 'docker1' : 'docker3',
      portName: i === 0 ? 'vxlan-docker3' : 'vxlan-docker1',
      localIp: '10.0.0.1',
      remoteIp: '10.0.0.2',
      overlayMtu: 1450,
    });
    const data: TunnelData = { type: 'vxlan', key: 5, dstPort: null, endpoints: [end(0), end(1)], overlayMtu: 1450, labels: {} };
    const now = new Date().toISOString();
    await t.store.insertResource({
      id,
      type: 'tunnel',
      key: id,
      state: 'ready',
      jobId: null,
      data,
      createdAt: now,
      updatedAt: now,
      secret: null,
    });
    return id;
  }

  it('Linux ends: each direction on its own host, on the tunnel device; link down on both ends', async () => {
    const t = await world();
    const id = await tunnel(t, 'linux');
    const r = await t.json('PATCH', `/tunnels/${id}`, { impairment: { aToB: { lossPercent: 5 }, bToA: { rateMbit: 20 } }, link: 'down' });
    const b = await r.json();
    expect(r.status, JSON.stringify(b)).toBe(200);
    expect(b).toMatchObject({ impairment: { aToB: { lossPercent: 5 }, bToA: { rateMbit: 20 } }, link: 'down' });
    const on = (h: string) => t.world.calls.filter((c) => c.host === h).map((c) => c.argv.join(' '));
    expect(on('docker1')).toEqual(['nft -f -', 'ip link set dev vxlan-docker3 down']);
    expect(on('docker3')).toEqual(['tc qdisc del dev vxlan-docker1 root', 'tc -batch -', 'ip link set dev vxlan-docker1 down']);
  });

  it('OVS ends: an impairment is refused (422 saying why, before any command); link down is OpenFlow no-forward + no-receive', async () => {
    const t = await world();
    const id = await tunnel(t, 'ovs');
    const r = await t.json('PATCH', `/tunnels/${id}`, { impairment: { bToA: { lossPercent: 5 } }, link: 'down' });
    expect(r.status).toBe(422);
    const p = await r.json();
    expect(p.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/impairment/bToA']);
    expect(p.detail).toContain('no kernel device per tunnel');
    expect(t.world.calls).toEqual([]);
    const down = await t.json('PATCH', `/tunnels/${id}`, { link: 'down' });
    expect(down.status, JSON.stringify(await down.clone().json())).toBe(200);
    expect(t.world.calls.filter((c) => c.host === 'docker1').map((c) => c.argv.join(' '))).toEqual([
      'ovs-ofctl --timeout=10 mod-port ovs_bridge vxlan-docker3 no-forward',
      'ovs-ofctl --timeout=10 mod-port ovs_bridge vxlan-docker3 no-receive',
    ]);
    // observe: ovs-ofctl show says the port is not cut (as after an ovs-vswitchd restart): drift
    t.world.on((argv) =>
      argv.join(' ') === 'ovs-ofctl --timeout=10 show ovs_bridge'
        ? { stdout: ' 1(vxlan-docker3): addr:aa:bb:cc:dd:ee:ff\n     config:     0\n     state:      0\n' }
        : undefined,
    );
    t.world.on((argv) => (argv[0] === 'ovs-vsctl' && argv.includes('--format=json') ? { stdout: '{"data":[],"headings":[]}' } : undefined));
    const o = await t.json('GET', `/tunnels/${id}?observe=true`);
    const body = await o.json();
    expect(o.status, JSON.stringify(body)).toBe(200);
    expect(body.observed.endpoints[0].drift).toContainEqual({ field: 'link', desired: 'down', actual: 'up' });
  });
});

describe('topology members', () => {
  it('an impairment on a member changes in place: no re-attach, disruption none', async () => {
    const t = await world();
    const doc = (impairment?: object) => ({
      networks: {
        lab: { subnet: '10.40.0.0/24', members: [{ host: 'docker1', container: 'web1', ...(impairment ? { impairment } : {}) }] },
      },
    });
    expect((await t.json('PUT', '/topologies/imp', doc())).status).toBe(201);
    t.world.calls = [];
    const plan = await (await t.json('POST', '/topologies/imp/plan', doc({ toContainer: { rateMbit: 5 } }))).json();
    const change = plan.changes.find((c: { kind: string }) => c.kind === 'attachment');
    expect(change).toMatchObject({ action: 'update', fields: ['impairment'], disruption: 'none' });
    const r = await t.json('PUT', '/topologies/imp', doc({ toContainer: { rateMbit: 5 } }));
    expect(r.status, JSON.stringify(await r.clone().json())).toBe(200);
    const ran = argvs(t.world.calls);
    expect(ran.some((c) => c.includes('type veth'))).toBe(false);
    expect(ran.filter((c) => c.startsWith('tc '))).toEqual([expect.stringMatching(/^tc qdisc del dev np\w+ root$/), 'tc -batch -']);
    const bad = await t.json('PUT', '/topologies/imp', doc({ toContainer: { delayMs: 50 } }));
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].pointer).toBe('/networks/lab/members/0/impairment/toContainer/delayMs');
  });
});
