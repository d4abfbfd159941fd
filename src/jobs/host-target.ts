/** From a host's record to how the executors reach it (the one place a host's secret is read). */
import type { ConnectionSpec, HostTarget } from '../exec/pool.js';
import type { HostData } from '../model/hosts.js';
import type { Store } from '../store/types.js';
import { readResource } from './records.js';

export function connectionSpec(data: HostData, secret: { privateKey?: unknown } | null | undefined): ConnectionSpec {
  const dockerSocket = data.docker?.socketPath;
  if (data.executor.kind === 'local') return { kind: 'local', label: data.name, dockerSocket };
  const e = data.executor;
  const privateKey = typeof secret?.privateKey === 'string' ? secret.privateKey : undefined;
  return {
    kind: 'ssh',
    label: data.name,
    address: e.address,
    port: e.port,
    user: e.user,
    hostKeySha256: e.hostKeySha256,
    ...(e.privateKeyPath ? { privateKeyPath: e.privateKeyPath } : {}),
    ...(privateKey ? { privateKey } : {}),
    dockerSocket,
  };
}

/** The host with this id as the connection pool serves it, or null when it no longer exists. */
export async function hostTarget(store: Store, hostId: string): Promise<HostTarget | null> {
  const host = await readResource(store, 'host', hostId);
  if (!host) return null;
  return { id: host.id, connection: connectionSpec(host.data, (await store.getResource(hostId))?.secret) };
}
