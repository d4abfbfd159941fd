/**
 * The seed scenario as one topology document, from TypeScript: plan, apply, check, tear down.
 * Run against a service with two hosts registered (see the README): `npx tsx sdk/examples/topology.ts`.
 */
import { createClient, type TopologyDocumentInput } from '../src/index.js';

const np = createClient({ baseUrl: process.env.NP ?? 'http://127.0.0.1:8080', token: process.env.NETPLUMB_TOKEN });

const seed: TopologyDocumentInput = {
  networks: {
    web: {
      bridge: { type: 'ovs', name: 'ovs_bridge', datapathType: 'auto', stp: false },
      subnet: '10.11.12.0/24',
      tunnel: { type: 'gre' },
      hostAddresses: 'auto',
      members: [
        { host: 'docker1', container: 'web1', address: '10.11.12.100' },
        { host: 'docker3', container: 'web2' }, // an address from the pool, kept across re-applies
      ],
    },
  },
};

const plan = await np.topologies.plan('seed', seed);
for (const c of plan.changes) console.log(`plan: ${c.action} ${c.slot} on ${c.hosts.join(', ')} (disruption: ${c.disruption})`);

const t = await np.topologies.apply('seed', seed);
console.log(
  `applied: ${t.state}, job ${t.job.status}, ${t.plan.changes.length} change(s); web2 got ${t.allocations.memberAddresses['web/docker3/web2']}`,
);

const again = await np.topologies.apply('seed', seed);
console.log(`re-applied unchanged: ${again.plan?.changes.length ?? 0} change(s)`);

const observed = await np.topologies.get('seed', { observe: true });
console.log(`drift: ${JSON.stringify(observed.observed?.drift)}`);

await np.topologies.delete('seed');
console.log(`deleted; bridges left: ${(await np.bridges.list()).items.length}`);
