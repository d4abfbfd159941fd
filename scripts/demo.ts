/**
 * The seed scenario, for real: two sandbox Docker hosts on different subnets behind a router,
 * the netplumb service started as its own process, and every step through the SDK.
 * Tears everything down at the end, on failure and on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, NetplumbError, type Job } from '../sdk/src/index.js';
import { down, SEED_HOSTS, up, type Sandbox } from '../test/testbed/sandbox.js';
import { buildAll, isStale } from './build.mjs';

const PREFIX = process.env.NETPLUMB_DEMO_PREFIX ?? 'demo';
const tunnelType = (process.argv[2] ?? 'gre') as 'gre' | 'vxlan' | 'geneve';
const t0 = performance.now();
const stamp = () => `${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
const say = (s: string) => console.log(`${stamp()}  ${s}`);

let sb: Sandbox | undefined;
let service: ChildProcess | undefined;
let dataDir: string | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (service?.pid && service.exitCode === null) {
      service.kill('SIGTERM');
      await new Promise((r) => {
        service!.once('exit', r);
        setTimeout(r, 5000);
      });
      if (service.exitCode === null) service.kill('SIGKILL');
    }
    if (sb) await sb.down();
    else await down(PREFIX).catch(() => undefined);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    say('tore down: sandbox hosts, their daemons and namespaces, the service');
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.log(`\n${sig}: tearing down`);
    void cleanup().then(() => process.exit(130));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs one SDK call and prints it with its job id and time. */
async function step<T extends { job?: Job; id?: string }>(what: string, fn: () => Promise<T>): Promise<T> {
  const s = performance.now();
  const r = await fn();
  say(`${what.padEnd(58)} ${(r.job?.id ?? '').padEnd(26)} ${Math.round(performance.now() - s)} ms`);
  return r;
}

async function main() {
  say(`bringing up two sandbox Docker hosts (prefix ${PREFIX}): docker1 10.10.10.101/24, docker3 192.168.50.101/24, a router between`);
  await down(PREFIX).catch(() => undefined);
  sb = await up({ prefix: PREFIX, hosts: SEED_HOSTS });
  const web1 = await sb.startWeb('docker1', 'web1', 1);
  const web2 = await sb.startWeb('docker3', 'web2', 2);
  say(`containers started with --net=none: web1 (pid ${web1}) on docker1, web2 (pid ${web2}) on docker3`);

  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  dataDir = mkdtempSync(join(tmpdir(), 'netplumb-demo-'));
  // The built service, as `npm start` runs it (built first when dist/ is missing or stale).
  if (isStale()) await buildAll({ quiet: true });
  service = spawn(process.execPath, ['--max-semi-space-size=1', 'dist/server.mjs'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NETPLUMB_TOKEN: token, NETPLUMB_DB: join(dataDir, 'netplumb.db') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 100 || service.exitCode !== null) throw new Error('the service did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  say(`service started (pid ${service.pid}) on ${baseUrl}, bearer token required`);

  const np = createClient({ baseUrl, token });
  for (const h of sb.hosts) {
    await step(`register host ${h.name} (ssh root@${h.mgmtIp}, key pinned)`, () =>
      np.hosts.create({
        name: h.name,
        executor: {
          kind: 'ssh',
          address: h.mgmtIp,
          port: h.sshPort,
          user: 'root',
          privateKeyPath: sb!.clientKeyPath,
          hostKeySha256: h.hostKeySha256,
        },
        tunnelIp: h.underlayIp,
      }),
    );
  }
  const b1 = await step('OVS bridge docker1/ovs_bridge 10.11.12.1/24', () =>
    np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] }),
  );
  await step('OVS bridge docker3/ovs_bridge 10.11.12.2/24', () =>
    np.bridges.create({ host: 'docker3', name: 'ovs_bridge', addresses: ['10.11.12.2/24'] }),
  );
  await step('Linux bridge docker3/docker0 172.17.0.1/16', () =>
    np.bridges.create({ host: 'docker3', name: 'docker0', type: 'linux', addresses: ['172.17.0.1/16'] }),
  );
  const tun = await step(`${tunnelType.toUpperCase()} tunnel docker1/ovs_bridge ⇄ docker3/ovs_bridge`, () =>
    np.tunnels.create({ type: tunnelType, endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] }),
  );
  const a1 = await step('attach web1 eth1 10.11.12.100/24 to docker1/ovs_bridge', () =>
    np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: 'web1' }, addresses: ['10.11.12.100/24'] }),
  );
  await step('attach web2 eth1 10.11.12.200/24 to docker3/ovs_bridge', () =>
    np.attachments.create({ bridge: 'docker3/ovs_bridge', target: { container: 'web2' }, addresses: ['10.11.12.200/24'] }),
  );
  await step('attach web2 eth0 172.17.0.100/16 gw 172.17.0.1 to docker3/docker0', () =>
    np.attachments.create({
      bridge: 'docker3/docker0',
      target: { container: 'web2' },
      ifname: 'eth0',
      addresses: ['172.17.0.100/16'],
      gateway: '172.17.0.1',
    }),
  );
  say(`overlay MTU left by the tunnel: ${(await np.bridges.get(b1.id)).overlayMtu}; web1's eth1 MTU ${a1.mtu}`);

  const curl1 = await sb.exec('docker1', ['nsenter', '-t', String(web1), '-n', 'curl', '-s', '-m', '10', 'http://10.11.12.200']);
  say(`from web1's namespace: curl http://10.11.12.200 → ${JSON.stringify(curl1.stdout.trim())}`);
  const curl2 = await sb.exec('docker3', ['nsenter', '-t', String(web2), '-n', 'curl', '-s', '-m', '10', 'http://10.11.12.100']);
  say(`from web2's namespace: curl http://10.11.12.100 → ${JSON.stringify(curl2.stdout.trim())}`);
  const ok = curl1.stdout.includes('Web Server #2') && curl2.stdout.includes('Web Server #1');

  await step('delete the tunnel', async () => {
    await np.tunnels.delete(tun.id);
    return {};
  });
  const cut = await sb.exec('docker1', ['nsenter', '-t', String(web1), '-n', 'curl', '-s', '-m', '3', 'http://10.11.12.200']);
  say(
    `after the delete, curl from web1 → ${cut.exitCode === 0 ? 'still answers (unexpected)' : `no answer (curl exit ${cut.exitCode}): the path is cut`}`,
  );
  if (!ok || cut.exitCode === 0) throw new Error('the seed scenario did not behave as expected');
  say('seed scenario: OK');
}

main()
  .then(() => cleanup())
  .catch(async (e) => {
    console.error(e instanceof NetplumbError ? `failed: ${e.message}${e.jobId ? ` (job ${e.jobId})` : ''}` : e);
    await cleanup();
    process.exit(1);
  });
