/**
 * pipework parity on a real sandbox host (docker1: its own namespace, dockerd, sshd): a veth end stands in for the
 * host's physical NIC, its peer in a segment namespace made here (10.88.0.1/24, and a second NIC's on 10.89.0.1/24).
 * macvlan containers reach the segment; ipvlan and VLAN sub-interfaces are tested where the kernel has them (skipped
 * with the reason where not) and their refusal (422, no job) where it lacks them;
 * phys moves the NIC in and back; a MAC from a seed is the same on re-create; a rule steers traffic into another table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEED_HOSTS } from '../testbed/sandbox.js';
import { run } from '../testbed/run.js';
import { kernel, missing } from '../helpers/capabilities.js';
import { startWorld, type World } from './harness.js';

let w: World;
const SEG = 'i18p-seg';
const TARGET_NS = 'i18p-t1';
const HOST = 'docker1';
const DNSMASQ_DIR = mkdtempSync(join(tmpdir(), 'i18p-dnsmasq-'));
const DNSMASQ_PID = join(DNSMASQ_DIR, 'dnsmasq.pid');
const DNSMASQ_LEASES = join(DNSMASQ_DIR, 'leases');
/** docker1 is a namespace on this kernel (its probe says the same, checked below): this decides which tests run. */
const IPVLAN = !!kernel().linkTypes?.ipvlan;
const VLAN = !!kernel().linkTypes?.vlan;

beforeAll(async () => {
  // The reconcile loop on, passes only on events (container restarts) and when a test asks: deterministic drills.
  w = await startWorld('i18p', [SEED_HOSTS[0]!], { withDocker: true, reconcile: { intervalMs: 0, tickMs: 200, log: () => undefined } });
  await w.registerHosts();
  const hostNs = w.sb.host(HOST).netns;
  // Two stand-in NICs on docker1, their peers in the segment namespace.
  await run(['ip', 'netns', 'del', SEG]).catch(() => undefined);
  await must(['ip', 'netns', 'add', SEG]);
  for (const [nic, peer, cidr] of [
    ['i18pnic', 'i18pseg', '10.88.0.1/24'],
    ['i18pphy', 'i18psg2', '10.89.0.1/24'],
  ] as const) {
    await must(['ip', 'link', 'add', nic, 'type', 'veth', 'peer', 'name', peer]);
    await must(['ip', 'link', 'set', nic, 'netns', hostNs]);
    await must(['ip', 'link', 'set', peer, 'netns', SEG]);
    await must(['ip', 'netns', 'exec', SEG, 'ip', 'addr', 'add', cidr, 'dev', peer]);
    await must(['ip', 'netns', 'exec', SEG, 'ip', 'link', 'set', peer, 'up']);
    await w.sb.exec(HOST, ['ip', 'link', 'set', nic, 'up']);
  }
  await must(['ip', 'netns', 'exec', SEG, 'ip', 'link', 'set', 'lo', 'up']);
  // A DHCP server on the first NIC's segment (dnsmasq, by its pid file).
  await must([
    'ip',
    'netns',
    'exec',
    SEG,
    'dnsmasq',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--port=0',
    '--interface=i18pseg',
    '--bind-interfaces',
    '--dhcp-range=10.88.0.100,10.88.0.110,255.255.255.0,300s',
    '--dhcp-authoritative',
    `--dhcp-leasefile=${DNSMASQ_LEASES}`,
    `--pid-file=${DNSMASQ_PID}`,
    '--user=root',
  ]);
  await w.sb.startWeb(HOST, 'web18a', 1);
  await w.sb.startWeb(HOST, 'web18b', 2);
  await w.ssh(HOST, ['ip', 'netns', 'add', TARGET_NS]);
}, 240_000);

afterAll(async () => {
  const dnsmasq = existsSync(DNSMASQ_PID) ? Number(readFileSync(DNSMASQ_PID, 'utf8').trim()) : 0;
  if (dnsmasq > 0) process.kill(dnsmasq, 'SIGTERM');
  rmSync(DNSMASQ_DIR, { recursive: true, force: true });
  await w?.ssh(HOST, ['ip', 'netns', 'del', TARGET_NS]).catch(() => undefined);
  await run(['ip', 'netns', 'del', SEG]).catch(() => undefined);
  await w?.close();
});

async function must(argv: string[]): Promise<string> {
  const r = await run(argv, { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function api(method: string, path: string, body?: unknown) {
  const r = await fetch(w.baseUrl + path, {
    method,
    ...(body !== undefined ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

const pidOf = async (container: string) =>
  Number((await w.sb.exec(HOST, ['docker', 'inspect', '-f', '{{.State.Pid}}', container])).stdout.trim());
const inContainer = async (container: string, argv: string[]) =>
  w.sb.exec(HOST, ['nsenter', '-t', String(await pidOf(container)), '-n', ...argv]);
const inSegment = (argv: string[]) => run(['ip', 'netns', 'exec', SEG, ...argv], { timeoutMs: 30_000 });
async function until<T>(what: string, ms: number, probe: () => Promise<T | false | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const facts = async () => (await api('GET', `/hosts/${HOST}`)).json.facts;

describe('pipework parity on a host NIC', () => {
  it('the probe says which device types the kernel makes and which DHCP clients the host has', async () => {
    const f = await facts();
    console.log(`[pipework] ${HOST} device types: ${JSON.stringify(f.linkTypes)}, DHCP clients: ${JSON.stringify(f.dhcpClients)}`);
    // What the kernel really does, tried by hand.
    const tryType = async (type: string[]) =>
      (
        await run([
          'unshare',
          '-n',
          'sh',
          '-c',
          `ip link add nptry0 type veth peer name nptry1 && ip link add link nptry0 name nptry2 ${type.join(' ')}`,
        ])
      ).exitCode === 0;
    expect(f.linkTypes.macvlan).toBe(await tryType(['type', 'macvlan', 'mode', 'bridge']));
    expect(f.linkTypes.ipvlan).toBe(await tryType(['type', 'ipvlan', 'mode', 'l2']));
    expect(f.linkTypes.vlan).toBe(await tryType(['type', 'vlan', 'id', '5']));
    expect([f.linkTypes.ipvlan, f.linkTypes.vlan]).toEqual([IPVLAN, VLAN]);
    expect(f.dhcpClients).toContain('udhcpc');
  });

  it('macvlan (bridge mode): two containers on the NIC reach the segment and each other; the parent found by MAC works too', async () => {
    const a = await api('POST', '/attachments', {
      type: 'macvlan',
      host: HOST,
      parent: 'i18pnic',
      target: { container: 'web18a' },
      addresses: ['10.88.0.10/24'],
    });
    expect(a.status, JSON.stringify(a.json)).toBe(201);
    expect(a.json).toMatchObject({
      type: 'macvlan',
      mode: 'bridge',
      bridge: null,
      parent: { ref: 'i18pnic', name: 'i18pnic', lower: 'i18pnic' },
    });
    const nicMac = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', 'link', 'show', 'dev', 'i18pnic'])).stdout)[0].address as string;
    const b = await api('POST', '/attachments', {
      host: HOST,
      parent: `mac:${nicMac}`,
      target: { container: 'web18b' },
      addresses: ['10.88.0.11/24'],
    });
    expect(b.status, JSON.stringify(b.json)).toBe(201);
    expect(b.json).toMatchObject({ type: 'macvlan', parent: { ref: `mac:${nicMac}`, name: 'i18pnic' } });
    const link = JSON.parse((await inContainer('web18a', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(link.linkinfo.info_kind).toBe('macvlan');
    expect((await inContainer('web18a', ['ping', '-c', '1', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
    expect((await inContainer('web18b', ['ping', '-c', '1', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
    // The segment reaches the container's web server; the two containers reach each other (bridge mode).
    const curl = await inSegment(['curl', '-s', '-m', '5', 'http://10.88.0.10/']);
    expect(curl.stdout).toContain('Web Server #1');
    expect((await inContainer('web18a', ['ping', '-c', '1', '-W', '2', '10.88.0.11'])).exitCode).toBe(0);
    // Observe: no drift.
    const seen = await api('GET', `/attachments/${a.json.id}?observe=true`);
    expect(seen.json.observed.drift).toEqual([]);
    // Delete: the interface is gone from the containers, the NIC stays on the host.
    expect((await api('DELETE', `/attachments/${a.json.id}`)).status).toBe(204);
    expect((await api('DELETE', `/attachments/${b.json.id}`)).status).toBe(204);
    expect((await inContainer('web18a', ['ip', 'link', 'show', 'dev', 'eth1'])).exitCode).not.toBe(0);
    expect((await w.sb.exec(HOST, ['ip', 'link', 'show', 'dev', 'i18pnic'])).exitCode).toBe(0);
  });

  it('macvlan private mode: both reach the segment, not each other; 0/0 (no address) is the link only', async () => {
    const common = { type: 'macvlan', host: HOST, parent: 'i18pnic', mode: 'private' };
    const a = await api('POST', '/attachments', { ...common, target: { container: 'web18a' }, addresses: ['10.88.0.20/24'] });
    const b = await api('POST', '/attachments', { ...common, target: { container: 'web18b' }, addresses: ['10.88.0.21/24'] });
    const bare = await api('POST', '/attachments', { ...common, mode: 'bridge', target: { netns: TARGET_NS }, addresses: [] });
    for (const r of [a, b, bare]) expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect((await inContainer('web18a', ['ping', '-c', '1', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
    expect((await inContainer('web18a', ['ping', '-c', '1', '-W', '1', '10.88.0.21'])).exitCode).not.toBe(0);
    const bareLink = JSON.parse((await w.ssh(HOST, ['ip', '-n', TARGET_NS, '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(bareLink.flags).toContain('UP');
    expect(bareLink.addr_info.filter((x: { scope: string }) => x.scope === 'global')).toEqual([]);
    for (const r of [a, b, bare]) expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
  });

  it.skipIf(missing('ipvlan', IPVLAN, 'no CONFIG_IPVLAN'))(
    'ipvlan (l2): a container on the NIC reaches the segment; delete removes it (needs ipvlan)',
    async () => {
      const r = await api('POST', '/attachments', {
        type: 'ipvlan',
        host: HOST,
        parent: 'i18pnic',
        target: { container: 'web18a' },
        addresses: ['10.88.0.30/24'],
      });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      expect(r.json).toMatchObject({ type: 'ipvlan', parent: { name: 'i18pnic' } });
      const link = JSON.parse((await inContainer('web18a', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth1'])).stdout)[0];
      expect(link.linkinfo.info_kind).toBe('ipvlan');
      expect((await inContainer('web18a', ['ping', '-c', '2', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
      expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
      expect((await inContainer('web18a', ['ip', 'link', 'show', 'dev', 'eth1'])).exitCode).not.toBe(0);
    },
  );

  it.skipIf(missing('802.1Q', VLAN, 'no CONFIG_VLAN_8021Q'))(
    "802.1Q (pipework's @18 on a NIC): a macvlan on i18pnic.18 reaches the segment's VLAN 18; the sub-interface goes with it (needs 8021q)",
    async () => {
      await must(['ip', 'netns', 'exec', SEG, 'ip', 'link', 'add', 'link', 'i18pseg', 'name', 'i18pseg.18', 'type', 'vlan', 'id', '18']);
      await must(['ip', 'netns', 'exec', SEG, 'ip', 'addr', 'add', '10.88.18.1/24', 'dev', 'i18pseg.18']);
      await must(['ip', 'netns', 'exec', SEG, 'ip', 'link', 'set', 'i18pseg.18', 'up']);
      try {
        const r = await api('POST', '/attachments', {
          type: 'macvlan',
          host: HOST,
          parent: 'i18pnic',
          vlan: 18,
          target: { container: 'web18b' },
          addresses: ['10.88.18.31/24'],
        });
        expect(r.status, JSON.stringify(r.json)).toBe(201);
        const sub = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', '-d', 'link', 'show', 'dev', 'i18pnic.18'])).stdout)[0];
        expect(sub.linkinfo.info_data.id).toBe(18);
        expect((await inContainer('web18b', ['ping', '-c', '2', '-W', '2', '10.88.18.1'])).exitCode).toBe(0);
        expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
        expect((await w.sb.exec(HOST, ['ip', 'link', 'show', 'dev', 'i18pnic.18'])).exitCode).not.toBe(0);
      } finally {
        await run(['ip', 'netns', 'exec', SEG, 'ip', 'link', 'del', 'i18pseg.18']);
      }
    },
  );

  const refusals = [
    {
      name: 'ipvlan',
      present: IPVLAN,
      pointer: '/type',
      body: { type: 'ipvlan', target: { container: 'web18a' }, addresses: ['10.88.0.30/24'] },
      says: /cannot make ipvlan devices: it lacks ipvlan \(CONFIG_IPVLAN\)/,
    },
    {
      name: '802.1Q',
      present: VLAN,
      pointer: '/vlan',
      body: { type: 'macvlan', vlan: 18, target: { container: 'web18b' }, addresses: ['10.88.18.31/24'] },
      says: /cannot make 802\.1Q VLAN sub-interfaces: it lacks 8021q/,
    },
  ];
  for (const { name, present, pointer, body, says } of refusals) {
    it.skipIf(
      missing(`the ${name} refusal on a real host`, !present, `this kernel has ${name}; test/api/attachments-nic.test.ts covers it`),
    )(
      `${name} on a kernel without it: 422 at ${pointer} naming the missing support, no job, nothing on the host (only where it is absent)`,
      async () => {
        const jobsBefore = (await api('GET', '/jobs?limit=200')).json.items.length;
        const r = await api('POST', '/attachments', { host: HOST, parent: 'i18pnic', ...body });
        expect(r.status, JSON.stringify(r.json)).toBe(422);
        expect(r.json.errors.map((e: { pointer: string }) => e.pointer)).toEqual([pointer]);
        expect(r.json.errors[0].detail).toMatch(says);
        expect((await api('GET', '/jobs?limit=200')).json.items.length).toBe(jobsBefore);
        expect((await w.sb.exec(HOST, ['ip', 'link', 'show', 'dev', 'i18pnic.18'])).exitCode).not.toBe(0);
      },
    );
  }

  it('phys (--direct-phys): the NIC moves into the container under the asked name with a MAC from a seed, and back on delete as it was', async () => {
    const before = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', 'link', 'show', 'dev', 'i18pphy'])).stdout)[0];
    const r = await api('POST', '/attachments', {
      type: 'phys',
      host: HOST,
      parent: 'i18pphy',
      ifname: 'eth7',
      macSeed: 'web18a-eth7',
      target: { container: 'web18a' },
      addresses: ['10.89.0.10/24'],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    // pipework's U: — `echo web18a-eth7 | md5sum`, 02 and the first five bytes.
    const md5 = createHash('md5').update('web18a-eth7\n').digest('hex');
    const expected = `02:${md5.slice(0, 2)}:${md5.slice(2, 4)}:${md5.slice(4, 6)}:${md5.slice(6, 8)}:${md5.slice(8, 10)}`;
    expect(r.json.mac).toBe(expected);
    expect((await w.sb.exec(HOST, ['ip', 'link', 'show', 'dev', 'i18pphy'])).exitCode).not.toBe(0);
    const inside = JSON.parse((await inContainer('web18a', ['ip', '-j', 'link', 'show', 'dev', 'eth7'])).stdout)[0];
    expect(inside.address).toBe(expected);
    expect((await inContainer('web18a', ['ping', '-c', '1', '-W', '2', '10.89.0.1'])).exitCode).toBe(0);
    // A second phys request for the same NIC is a conflict before any command.
    const again = await api('POST', '/attachments', { type: 'phys', host: HOST, parent: 'i18pphy', target: { container: 'web18b' } });
    expect(again.status).toBe(409);
    expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
    const after = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', 'link', 'show', 'dev', 'i18pphy'])).stdout)[0];
    expect(after.address).toBe(before.address);
    expect(after.mtu).toBe(before.mtu);
    expect(after.flags).toContain('UP');
    expect((await inContainer('web18a', ['ip', 'link', 'show', 'dev', 'eth7'])).exitCode).not.toBe(0);
  });

  it('a MAC from a seed is the same when the attachment is made again', async () => {
    const body = { host: HOST, parent: 'i18pnic', macSeed: 'U-seed-18', target: { container: 'web18b' }, addresses: ['10.88.0.40/24'] };
    const first = await api('POST', '/attachments', body);
    expect(first.status, JSON.stringify(first.json)).toBe(201);
    const mac1 = JSON.parse((await inContainer('web18b', ['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].address;
    expect((await api('DELETE', `/attachments/${first.json.id}`)).status).toBe(204);
    const second = await api('POST', '/attachments', body);
    expect(second.status, JSON.stringify(second.json)).toBe(201);
    const mac2 = JSON.parse((await inContainer('web18b', ['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].address;
    expect(mac2).toBe(mac1);
    expect(second.json.mac).toBe(mac1);
    expect((await api('DELETE', `/attachments/${second.json.id}`)).status).toBe(204);
  });

  it('a rule steers traffic into another table (ip route get); PATCH removes and restores it; drift is seen and repaired', async () => {
    const r = await api('POST', '/attachments', {
      host: HOST,
      parent: 'i18pnic',
      target: { container: 'web18a' },
      addresses: ['10.88.0.50/24'],
      routes: [{ to: '10.99.0.0/16', via: '10.88.0.1', table: 100 }],
      rules: [{ from: '10.88.0.50/32', table: 100, priority: 1000 }],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const routeGet = async () => (await inContainer('web18a', ['ip', 'route', 'get', '10.99.1.1', 'from', '10.88.0.50'])).stdout;
    expect(await routeGet()).toMatch(/via 10\.88\.0\.1 dev eth1 table 100/);
    const p1 = await api('PATCH', `/attachments/${r.json.id}`, { rules: [] });
    expect(p1.status, JSON.stringify(p1.json)).toBe(200);
    expect(p1.json.rules).toEqual([]);
    expect(await routeGet()).not.toMatch(/table 100/);
    const p2 = await api('PATCH', `/attachments/${r.json.id}`, { rules: [{ from: '10.88.0.50/32', table: 100, priority: 1000 }] });
    expect(p2.status, JSON.stringify(p2.json)).toBe(200);
    expect(await routeGet()).toMatch(/table 100/);
    // Someone deletes the rule by hand: observe says so, repair puts it back.
    await inContainer('web18a', ['ip', 'rule', 'del', 'priority', '1000']);
    const seen = await api('GET', `/attachments/${r.json.id}?observe=true`);
    expect(seen.json.observed.drift.map((x: { field: string }) => x.field)).toEqual(['rules']);
    const repaired = await api('POST', `/attachments/${r.json.id}/repair`);
    expect(repaired.status, JSON.stringify(repaired.json)).toBe(200);
    expect(await routeGet()).toMatch(/table 100/);
    expect((await api('GET', `/attachments/${r.json.id}?observe=true`)).json.observed.drift).toEqual([]);
    expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
    // The rule lived in the container's namespace, not on the interface: delete removed it too.
    expect((await inContainer('web18a', ['ip', 'rule', 'show'])).stdout).not.toMatch(/^1000:/m);
  });

  it('a parent that is a bridge, or phys of the NIC the host is reached by: 409 before anything is moved', async () => {
    const hostNs = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', 'addr', 'show'])).stdout) as {
      ifname: string;
      addr_info: { local: string }[];
    }[];
    const mgmt = hostNs.find((l) => l.addr_info.some((a) => a.local === w.sb.host(HOST).mgmtIp))!.ifname;
    const phys = await api('POST', '/attachments', { type: 'phys', host: HOST, parent: mgmt, target: { container: 'web18b' } });
    expect(phys.status, JSON.stringify(phys.json)).toBe(409);
    expect(phys.json.detail).toMatch(/would cut the host off/);
    expect((await w.sb.exec(HOST, ['ip', 'link', 'show', 'dev', mgmt])).exitCode).toBe(0);
    const br = await api('POST', '/bridges', { host: HOST, name: 'i18pbr2', type: 'linux' });
    expect(br.status).toBe(201);
    const onBridge = await api('POST', '/attachments', { host: HOST, parent: 'i18pbr2', target: { container: 'web18b' } });
    expect(onBridge.status).toBe(409);
    expect(onBridge.json.detail).toMatch(/is a bridge/);
    expect((await api('DELETE', `/bridges/${br.json.id}`)).status).toBe(204);
  });

  it('the container restarts: the reconcile loop makes the macvlan again by itself, same MAC and addresses', async () => {
    const r = await api('POST', '/attachments', {
      host: HOST,
      parent: 'i18pnic',
      target: { container: 'web18b' },
      addresses: ['10.88.0.60/24'],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const macBefore = JSON.parse((await inContainer('web18b', ['ip', '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].address;
    expect((await w.sb.exec(HOST, ['docker', 'restart', '-t', '1', 'web18b'], { timeoutMs: 60_000 })).exitCode).toBe(0);
    const pid = await pidOf('web18b');
    await until('the macvlan back in the restarted container', 20_000, async () => {
      const a = await api('GET', `/attachments/${r.json.id}?observe=true`);
      return a.json.state === 'ready' && a.json.resolved?.pid === pid && a.json.observed.drift.length === 0;
    });
    const after = JSON.parse((await inContainer('web18b', ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(after.address).toBe(macBefore);
    expect(after.addr_info.map((x: { local: string }) => x.local)).toContain('10.88.0.60');
    expect((await inContainer('web18b', ['ping', '-c', '1', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
    expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
  });

  it('a reconcile pass observes NIC attachments with their own eyes: only real drift is repaired (an address removed by hand)', async () => {
    const m = await api('POST', '/attachments', {
      host: HOST,
      parent: 'i18pnic',
      target: { container: 'web18a' },
      addresses: ['10.88.0.70/24'],
    });
    const p = await api('POST', '/attachments', {
      type: 'phys',
      host: HOST,
      parent: 'i18pphy',
      target: { container: 'web18b' },
      addresses: ['10.89.0.71/24'],
      rules: [{ priority: 1100, from: '10.89.0.71/32', table: 101 }],
    });
    for (const x of [m, p]) expect(x.status, JSON.stringify(x.json)).toBe(201);
    const hostId = m.json.host as string;
    const jobsOf = async () => ((await api('GET', '/jobs?kind=host.reconcile&limit=200')).json.items as { id: string }[]).map((j) => j.id);
    const before = await jobsOf();
    await inContainer('web18a', ['ip', 'addr', 'del', '10.88.0.70/24', 'dev', 'eth1']);
    w.reconciler!.requestPass(hostId, 'test: an address removed by hand');
    const job = await until('a reconcile job', 15_000, async () => (await jobsOf()).find((id) => !before.includes(id)));
    await until('the job done', 15_000, async () => (await api('GET', `/jobs/${job}`)).json.status === 'succeeded');
    const log = ((await api('GET', `/jobs/${job}/logs?limit=500`)).json.items as { text: string }[]).map((l) => l.text);
    const drift = log.filter((t) => t.startsWith('drift on '));
    // Only the address, and only on the macvlan: nothing false about its host end, the phys NIC or its rule.
    expect(drift).toEqual([`drift on attachment ${m.json.id}: addresses ["10.88.0.70/24"] ≠ []`]);
    const addrs = JSON.parse((await inContainer('web18a', ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0].addr_info;
    expect(addrs.map((a: { local: string }) => a.local)).toContain('10.88.0.70');
    for (const x of [m, p]) expect((await api('DELETE', `/attachments/${x.json.id}`)).status).toBe(204);
  });

  it("pipework eth9 web dhcp: a macvlan with its address from the DHCP server on the NIC's segment; delete stops the client", async () => {
    const r = await api('POST', '/attachments', { host: HOST, parent: 'i18pnic', target: { container: 'web18b' }, addresses: 'dhcp' });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.lease.address).toMatch(/^10\.88\.0\.1(0\d|10)\/24$/);
    expect(r.json.addresses).toEqual([r.json.lease.address]);
    expect(r.json.dhcp.client).toBe('udhcpc');
    const inside = JSON.parse((await inContainer('web18b', ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0];
    expect(inside.linkinfo?.info_kind ?? 'macvlan').toBe('macvlan');
    expect(inside.addr_info.map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)).toContain(r.json.lease.address);
    expect((await inContainer('web18b', ['ping', '-c', '1', '-W', '2', '10.88.0.1'])).exitCode).toBe(0);
    const seen = await api('GET', `/attachments/${r.json.id}?observe=true`);
    expect(seen.json.observed.drift).toEqual([]);
    const pid = seen.json.observed.dhcp.pid as number;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('udhcpc');
    expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it("pipework's -l: the host end of a veth gets the name asked for (pipework's own v<if>pl<pid> style included)", async () => {
    const br = await api('POST', '/bridges', { host: HOST, name: 'i18pbr', type: 'linux' });
    expect(br.status, JSON.stringify(br.json)).toBe(201);
    const name = `veth1pl${await pidOf('web18b')}`.slice(0, 15);
    const r = await api('POST', '/attachments', {
      bridge: `${HOST}/i18pbr`,
      target: { container: 'web18b' },
      hostIfname: name,
      addresses: ['10.87.0.2/24'],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.hostIfname).toBe(name);
    const link = JSON.parse((await w.sb.exec(HOST, ['ip', '-j', 'link', 'show', 'dev', name])).stdout)[0];
    expect(link.master).toBe('i18pbr');
    expect((await api('DELETE', `/attachments/${r.json.id}`)).status).toBe(204);
    expect((await api('DELETE', `/bridges/${br.json.id}`)).status).toBe(204);
  });
});
