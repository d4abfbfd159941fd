/**
 * Benchmark (run by hand: `npm run bench`): median time to attach one running container to an OVS bridge
 * through the API on an SSH sandbox host, next to the floor — the same work typed into the host's own shell
 * (TESTBED.md: docker inspect for the pid, ip link add … netns, address + up + ethtool inside, ovs-vsctl add-port, up).
 * Compare the ratio, not absolute times: the machine is shared.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.js';
import { serveApp } from '../src/listen.js';
import { createDeps, hostExecutor } from '../src/services.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { createClient } from '../sdk/src/index.js';
import { down, up } from '../test/testbed/sandbox.js';

const N = Number(process.env.BENCH_N ?? 10);
const PREFIX = 'bnch';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await down(PREFIX).catch(() => undefined);
const sb = await up({ prefix: PREFIX, hosts: [{ name: 'docker1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' }] });
const store = new SqliteStore(':memory:');
const deps = createDeps(store, { defaultWaitMs: 60_000, idempotencyTtlMs: 3600_000, maxBodyBytes: 1 << 20 });
const server = serveApp(createApp(deps), { port: 0, hostname: '127.0.0.1' });
await new Promise((r) => server.once('listening', r));
const np = createClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
try {
  const h = sb.host('docker1');
  await np.hosts.create({
    name: 'docker1',
    executor: {
      kind: 'ssh',
      address: h.mgmtIp,
      port: h.sshPort,
      user: 'root',
      privateKeyPath: sb.clientKeyPath,
      hostKeySha256: h.hostKeySha256,
    },
  });
  await np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  for (let i = 0; i < 2 * N + 1; i++) await sb.startWeb('docker1', `c${i}`, 1);

  // warm-up: the first attach opens the SSH connection and the Docker stream
  await np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: `c${2 * N}` }, addresses: ['10.11.13.250/24'] });

  const api: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await np.attachments.create({ bridge: 'docker1/ovs_bridge', target: { container: `c${i}` }, addresses: [`10.11.12.${10 + i}/24`] });
    api.push(performance.now() - t);
  }

  const shell: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = `c${N + i}`;
    const hi = `vbench${i}`;
    const script = [
      'set -e',
      `pid=$(docker inspect -f '{{.State.Pid}}' ${c})`,
      `ip link add dev ${hi} type veth peer name eth1 netns $pid`,
      `nsenter -t $pid -n ip addr add 10.11.12.${100 + i}/24 dev eth1`,
      `nsenter -t $pid -n ip link set dev eth1 up`,
      `nsenter -t $pid -n ethtool -K eth1 tx off >/dev/null`,
      `ovs-vsctl add-port ovs_bridge ${hi}`,
      `ip link set dev ${hi} up`,
    ].join('\n');
    const t = performance.now();
    const r = await sb.exec('docker1', ['sh', '-c', script]);
    shell.push(performance.now() - t);
    if (r.exitCode !== 0) throw new Error(`floor script failed: ${r.stderr}`);
  }

  const ssh = hostExecutor(deps, 'docker1');
  const rtt: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await ssh.run(['true']);
    rtt.push(performance.now() - t);
  }

  const a = median(api);
  const s = median(shell);
  console.log(`attach one container to an OVS bridge (median of ${N}):`);
  console.log(`  through the API (SDK → service → SSH → host): ${a.toFixed(1)} ms`);
  console.log(`  floor (same commands in the host's own shell):  ${s.toFixed(1)} ms`);
  console.log(`  ratio API / floor: ${(a / s).toFixed(2)}`);
  console.log(`  one trivial command over the persistent SSH connection: ${median(rtt).toFixed(1)} ms (median of 20)`);
  console.log(`  API attach ≈ ${(a / median(rtt)).toFixed(1)} SSH round trips`);
} finally {
  server.close();
  await deps.runner.drain();
  await deps.hosts.closeAll();
  store.close();
  await sb.down();
}
