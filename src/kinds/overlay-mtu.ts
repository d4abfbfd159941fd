/** The bridges' overlay MTU follows the tunnels on them (and their MTU follows the bridges'). */
import { readAll, readResource, saveResource } from '../jobs/records.js';
import { overlayMtu } from '../ops/tunnels.js';
import type { Store } from '../store/types.js';

/**
 * Recomputes the tunnels on these bridges from the bridges' current MTU, then every affected bridge's overlayMtu:
 * the lowest overlay MTU of the tunnels on it, null when none is left. Runs under the job's host locks.
 */
export function refreshOverlayMtu(store: Store, bridgeIds: readonly string[]): Promise<void> {
  return store.tx(async () => {
    const tunnels = (await readAll(store, 'tunnel')).filter((t) => t.state === 'ready' || t.state === 'deleting');
    const bridges = new Set(bridgeIds);
    const affected = new Set(bridgeIds);
    for (const tunnel of tunnels) {
      const d = tunnel.data;
      if (!d.endpoints.some((e) => bridges.has(e.bridgeId))) continue;
      let changed = false;
      for (const end of d.endpoints) {
        affected.add(end.bridgeId);
        const bridge = await readResource(store, 'bridge', end.bridgeId);
        if (!bridge) continue;
        const mtu = overlayMtu(bridge.data.mtu, d.type, { ipv6: end.remoteIp.includes(':'), key: d.key });
        if (mtu !== end.overlayMtu) {
          end.overlayMtu = mtu;
          changed = true;
        }
      }
      const lowest = Math.min(...d.endpoints.map((e) => e.overlayMtu));
      if (lowest !== d.overlayMtu) {
        d.overlayMtu = lowest;
        changed = true;
      }
      if (changed) await saveResource(store, tunnel, { data: d });
    }
    for (const id of affected) {
      const bridge = await readResource(store, 'bridge', id);
      if (!bridge) continue;
      const on = tunnels.filter((t) => t.data.endpoints.some((e) => e.bridgeId === id));
      const value = on.length ? Math.min(...on.map((t) => t.data.overlayMtu)) : null;
      if (bridge.data.overlayMtu !== value) await saveResource(store, bridge, { data: { ...bridge.data, overlayMtu: value } });
    }
  });
}
