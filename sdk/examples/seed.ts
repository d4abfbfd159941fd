/**
 * The seed scenario from a TypeScript script.
 *   NETPLUMB_URL=http://127.0.0.1:8080 NETPLUMB_TOKEN=… node --import tsx sdk/examples/seed.ts sandbox.json
 * sandbox.json is what `npm run sandbox -- up --json` prints (hosts with address, host key, underlay IP);
 * web1 runs on docker1 and web2 on docker3, started with --net=none.
 */
import { readFileSync } from 'node:fs';
import { createClient, NetplumbError } from '../src/index.js';

interface SandboxJson {
  clientKeyPath: string;
  hosts: { name: string; mgmtIp: string; sshPort: number; hostKeySha256: string; underlayIp: string }[];
}

const sb = JSON.parse(readFileSync(process.argv[2] ?? 'sandbox.json', 'utf8')) as SandboxJson;
const np = createClient({ baseUrl: process.env.NETPLUMB_URL ?? 'http://127.0.0.1:8080', token: process.env.NETPLUMB_TOKEN });

try {
  for (const h of sb.hosts) {
    const host = await np.hosts.create({
      name: h.name,
      executor: {
        kind: 'ssh',
        address: h.mgmtIp,
        port: h.sshPort,
        privateKeyPath: sb.clientKeyPath,
        hostKeySha256: h.hostKeySha256,
      },
      tunnelIp: h.underlayIp,
    });
    console.log(`host ${host.name}: OVS ${host.facts?.ovs?.version}, docker ${host.facts?.docker?.version}`);
  }
  await np.bridges.create({ host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24'] });
  await np.bridges.create({ host: 'docker3', name: 'ovs_bridge', addresses: ['10.11.12.2/24'] });
  const tunnel = await np.tunnels.create({ type: 'gre', endpoints: [{ bridge: 'docker1/ovs_bridge' }, { bridge: 'docker3/ovs_bridge' }] });
  console.log(`tunnel ${tunnel.id}: overlay MTU ${tunnel.overlayMtu}`);
  for (const [host, container, ip] of [
    ['docker1', 'web1', '10.11.12.100/24'],
    ['docker3', 'web2', '10.11.12.200/24'],
  ] as const) {
    const a = await np.attachments.create({ bridge: `${host}/ovs_bridge`, target: { container }, addresses: [ip] });
    console.log(`${container}: ${a.ifname} ${a.addresses.join(' ')} mtu ${a.mtu} (job ${a.job.id})`);
  }
  // Every job keeps its log: here the tunnel's, command by command.
  for await (const line of np.streamJobLogs(tunnel.jobId!)) {
    if (line.stream === 'cmd') console.log(`  [${line.host}] $ ${line.text}`);
  }
} catch (e) {
  if (e instanceof NetplumbError) console.error(`${e.status} ${e.type}: ${e.problem.detail}`);
  else throw e;
  process.exitCode = 1;
}
