/**
 * pipework's physical-interface modes from TypeScript: a macvlan with a MAC from a seed, a DHCP lease, a rule; then
 * everything deleted. `node --import tsx sdk/examples/pipework.ts <baseUrl> <host> <nic>` against a running service
 * whose host has the NIC `<nic>` on a segment with a DHCP server (README, "Coming from pipework").
 */
import { createClient, NetplumbError } from '../src/index.js';

const [baseUrl = 'http://127.0.0.1:8080', host = 'docker1', nic = 'eth9'] = process.argv.slice(2);
const np = createClient({ baseUrl, token: process.env.NETPLUMB_TOKEN });

// pipework eth9 web1 10.88.0.10/24@10.88.0.1 U:web1-eth1, then pipework rule web1 add from 10.88.0.10 table 100
const web1 = await np.attachments.create({
  host,
  parent: nic,
  target: { container: 'web1' },
  addresses: ['10.88.0.10/24'],
  gateway: '10.88.0.1',
  macSeed: 'web1-eth1',
  routes: [{ to: '10.99.0.0/16', via: '10.88.0.1', table: 100 }],
  rules: [{ priority: 1000, from: '10.88.0.10/32', table: 100 }],
});
console.log(`web1: ${web1.type} ${web1.ifname} on ${web1.parent?.name} mac ${web1.mac} ${web1.addresses.join(' ')}`);

// pipework eth9 web2 dhcp
const web2 = await np.attachments.create({ host, parent: nic, target: { container: 'web2' }, addresses: 'dhcp' });
console.log(`web2: leased ${web2.lease?.address} from ${web2.lease?.server} (${web2.dhcp?.client})`);

// A kernel without ipvlan answers 422 before anything runs.
try {
  await np.attachments.create({ type: 'ipvlan', host, parent: nic, target: { container: 'web2' } });
} catch (e) {
  if (!(e instanceof NetplumbError) || e.problem.type !== 'https://netplumb.dev/problems/validation') throw e;
  console.log(`ipvlan: ${e.status} ${e.problem.errors?.[0]?.pointer}: ${e.problem.errors?.[0]?.detail}`);
}

for (const a of [web1, web2]) await np.attachments.delete(a.id);
console.log('deleted both; the DHCP client stopped with its attachment');
