/**
 * The seed scenario end to end, through the SDK, on two sandbox hosts in different subnets behind a router:
 * OVS bridges, web1/web2 started with --net=none and attached, a tunnel; curl through it both ways;
 * the encapsulated packets seen on the router's link; the path cut after the tunnel is deleted.
 * Once each for GRE, VXLAN and Geneve (OVS's userspace datapath implements all three: this kernel has no gre module).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from './harness.js';

let w: World;
let web1 = 0;
let web2 = 0;

beforeAll(async () => {
  w = await startWorld('iseed');
  await w.registerHosts();
  await w.np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  await w.np.bridges.create({ host: 'docker3', name: 'ovs_bridge', addresses: ['10.11.12.2/24'] });
  await w.np.bridges.create({ host: 'docker3', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] });
  web1 = await w.sb.startWeb('docker1', 'web1', 1);
  web2 = await w.sb.startWeb('docker3', 'web2', 2);
  await w.np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] });
  await w.np.attachments.create({ bridge: 'docker3/ovs_bridge', target: { container: 'web2' }, addresses: ['10.11.12.200/24'] });
  await w.np.attachments.create({
    bridge: 'docker3/docker0',
    target: { container: 'web2' },
    ifname: 'eth0',
    addresses: ['172.17.0.100/16'],
    gateway: '172.17.0.1',
  });
});

afterAll(async () => {
  await w?.close();
});

const curlFrom = (host: string, pid: number, url: string, maxS = 10) =>
  w.sb.exec(host, ['nsenter', '-t', String(pid), '-n', 'curl', '-s', '-m', String(maxS), url], { timeoutMs: (maxS + 5) * 1000 });

/** Starts tcpdump on the router's link to docker1 and resolves once it listens; `done` gives the packets it saw. */
async function capture(filter: string): Promise<{ done: () => Promise<string> }> {
  const iface = w.sb.routerIfaces.docker1!;
  const p = spawn('ip', ['netns', 'exec', w.sb.routerNetns, 'timeout', '20', 'tcpdump', '-l', '-n', '-i', iface, '-c', '3', filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('tcpdump did not start')), 10_000);
    p.stderr.on('data', (d) => {
      if (String(d).includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    done: () =>
      new Promise((resolve) => {
        if (p.exitCode !== null) return resolve(out);
        const t = setTimeout(() => p.kill('SIGTERM'), 5000);
        p.once('exit', () => {
          clearTimeout(t);
          resolve(out);
        });
      }),
  };
}

const cases = [
  { type: 'gre' as const, filter: 'proto gre', seen: /GREv0/ },
  { type: 'vxlan' as const, filter: 'udp port 4789', seen: /VXLAN|4789/ },
  { type: 'geneve' as const, filter: 'udp port 6081', seen: /Geneve|6081/ },
];

describe.each(cases)('seed scenario over $type', ({ type, filter, seen }) => {
  it(`curl from web1 answers "Web Server #2" through the ${type} tunnel, web2 reaches web1, the router sees ${type}; delete cuts the path`, async () => {
    // no tunnel yet: the two segments are separate
    expect((await curlFrom('docker1', web1, 'http://10.11.12.200', 2)).exitCode).not.toBe(0);

    // That probe left a FAILED neighbour entry, which makes the kernel refuse the next connect for a while
    // (EHOSTUNREACH): forget it, as a fresh container would not have it.
    await w.sb.exec('docker1', ['nsenter', '-t', String(web1), '-n', 'ip', 'neigh', 'flush', 'dev', 'eth1']);

    const tun = await w.np.tunnels.create({ type, endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] });
    let deleted = false;
    try {
      expect(tun.type).toBe(type);
      const cap = await capture(filter);
      const r1 = await curlFrom('docker1', web1, 'http://10.11.12.200');
      expect(r1.stdout, `curl exit ${r1.exitCode} ${r1.stderr}`).toContain('Web Server #2');
      const r2 = await curlFrom('docker3', web2, 'http://10.11.12.100');
      expect(r2.stdout, `curl exit ${r2.exitCode} ${r2.stderr}`).toContain('Web Server #1');
      const packets = await cap.done();
      console.log(`[seed/${type}] router link ${w.sb.routerIfaces.docker1}:\n${packets.trim()}`);
      expect(packets).toMatch(/10\.10\.10\.101.*192\.168\.50\.101|192\.168\.50\.101.*10\.10\.10\.101/);
      expect(packets).toMatch(seen);

      await w.np.tunnels.delete(tun.id);
      deleted = true;
      expect((await curlFrom('docker1', web1, 'http://10.11.12.200', 3)).exitCode).not.toBe(0);
    } finally {
      if (!deleted) await w.np.tunnels.delete(tun.id).catch(() => undefined);
    }
  });
});

describe('seed scenario extras', () => {
  it('web2 has its second interface with the default route via 172.17.0.1 dev eth0', async () => {
    const r = await w.sb.exec('docker3', ['nsenter', '-t', String(web2), '-n', 'ip', 'route', 'show', 'default']);
    expect(r.stdout.trim()).toMatch(/^default via 172\.17\.0\.1 dev eth0/);
  });
});
