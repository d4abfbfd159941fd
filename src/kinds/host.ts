/** Hosts: where netplumb acts, and how it reaches them. */
import { probeAndRecord } from '../jobs/hosts.js';
import { readAll } from '../jobs/records.js';
import { renderHost, type HostView } from '../model/hosts.js';
import type { ResourceKind } from './kind.js';
import { findHost } from './refs.js';

export const hostKind: ResourceKind<'host', HostView> = {
  type: 'host',
  noun: 'host',
  lockMode: 'exclusive',
  describe: (host) => JSON.stringify(host.data.name),
  render: renderHost,
  find: findHost,
  hosts: (host) => [host.id],
  resume: {
    create: { run: (ctx, id) => probeAndRecord(ctx, id), successStatus: 201 },
    probe: { run: (ctx, id) => probeAndRecord(ctx, id), successStatus: 200 },
  },
  // Bridges first: forgetting a host that still has bridges would orphan them (hosts offer no cascade).
  // Its bridges (their veth attachments follow them), and the attachments on its NICs, which hang off no bridge.
  dependents: async (store, host) => [
    ...(await readAll(store, 'bridge', { hostId: host.id })),
    ...(await readAll(store, 'attachment', { hostId: host.id })).filter((a) => a.data.type !== 'veth'),
  ],
  async remove(ctx, host) {
    // Nothing on the host changes: the service forgets it.
    await ctx.store.deleteResource(host.id);
    await ctx.forgetHost(host.id);
    ctx.log(null, 'info', `host ${host.id} forgotten`);
  },
};
