/** The service's resources as graph input, and the picture in the asked format. */
import type { Context } from 'hono';
import type { AppDeps } from '../../deps.js';
import { hostTarget } from '../../jobs/host-target.js';
import { attachmentKind } from '../../kinds/attachment.js';
import { bridgeKind } from '../../kinds/bridge.js';
import { hostReader, type Observation, type ResourceKind } from '../../kinds/kind.js';
import { tunnelKind } from '../../kinds/tunnel.js';
import type { ResourceType } from '../../model/names.js';
import { layoutGraph } from '../../graph/layout.js';
import { driftOf, type GraphAttachment, type GraphDrift, type GraphInput } from '../../graph/model.js';
import { dockerEndpointsOf } from '../../kinds/docker-plugin.js';
import { renderSvg } from '../../graph/svg.js';
import { dot, mermaid } from '../../graph/text.js';
import { readAll } from '../../jobs/records.js';
import { renderTopology } from '../../kinds/topology.js';
import type { TypedResource } from '../../kinds/kind.js';
import { renderAttachment } from '../../model/attachments.js';
import { renderBridge } from '../../model/bridges.js';
import { renderHost } from '../../model/hosts.js';
import { renderTunnel } from '../../model/tunnels.js';
import type { Store } from '../../store/types.js';
import { formatOf, GRAPH_MEDIA, type GraphFormat } from './schema.js';
import { negotiate } from '../negotiation.js';

/** Everything the service holds: every host (also those without bridges), bridge, tunnel and attachment. */
export async function serviceGraph(store: Store): Promise<GraphInput> {
  return {
    title: 'netplumb',
    hosts: (await readAll(store, 'host')).map(renderHost),
    bridges: (await readAll(store, 'bridge')).map(renderBridge),
    tunnels: (await readAll(store, 'tunnel')).map(renderTunnel),
    attachments: (await readAll(store, 'attachment')).map(renderAttachment),
  };
}

/** What a topology owns, on its hosts. */
export async function topologyGraph(store: Store, t: TypedResource<'topology'>): Promise<GraphInput> {
  const view = await renderTopology(store, t);
  const owned = new Set(Object.values(view.resources));
  const hosts = new Set(view.hosts);
  return {
    title: view.name,
    hosts: (await readAll(store, 'host')).map(renderHost).filter((h) => hosts.has(h.name)),
    bridges: (await readAll(store, 'bridge')).filter((r) => owned.has(r.id)).map(renderBridge),
    tunnels: (await readAll(store, 'tunnel')).filter((r) => owned.has(r.id)).map(renderTunnel),
    attachments: [
      ...(await readAll(store, 'attachment')).filter((r) => owned.has(r.id)).map(renderAttachment),
      ...(await dockerEndpointsOf(store, view.name)).flatMap(({ id, data: e }) => {
        const bridge = view.resources[`bridge:${e.network}/${e.hostName}`];
        if (!bridge || !e.joined) return [];
        // A container Docker joined (`docker run --network`): named by its endpoint, as Docker knows it.
        const a: GraphAttachment = {
          id,
          bridge,
          type: 'docker',
          hostName: e.hostName,
          target: { container: `docker ${e.endpointId.slice(0, 12)}` },
          ifname: null,
          addresses: [e.address],
        };
        return [a];
      }),
    ],
  };
}

/**
 * `observe=true`: every bridge, tunnel and attachment in the picture read from its host (hosts in parallel, through
 * the kinds' own observe), so the picture shows drift as /ui does. A kind without observe, or a host that cannot be
 * read, marks that resource `unavailable` (with the reason) instead of failing the whole picture.
 */
export async function observeGraph(deps: AppDeps, g: GraphInput): Promise<GraphInput> {
  const reader = hostReader(deps.hosts, (id) => hostTarget(deps.store, id));
  const drift: Record<string, GraphDrift> = {};
  const one = async <T extends ResourceType, V, O extends Observation>(kind: ResourceKind<T, V, O>, id: string) => {
    const r = await kind.find(deps.store, id);
    if (!r) return;
    if (!kind.observe) {
      drift[id] = driftOf(null);
      return;
    }
    try {
      drift[id] = driftOf({ observed: await kind.observe(reader, r, deps.store) });
    } catch (e) {
      drift[id] = { status: 'unavailable', details: [`could not read it: ${e instanceof Error ? e.message : String(e)}`] };
    }
  };
  await Promise.all([
    ...g.bridges.map((b) => one(bridgeKind, b.id)),
    ...g.tunnels.map((t) => one(tunnelKind, t.id)),
    ...g.attachments.map((a) => one(attachmentKind, a.id)),
  ]);
  return { ...g, drift };
}

/** The picture in the format asked for (`format`), or else the one `Accept` prefers (406 when it admits none). */
export async function graphResponse(c: Context, g: GraphInput, asked: GraphFormat | undefined): Promise<Response> {
  const format = formatOf((offered) => negotiate(c, offered), asked);
  const body = format === 'mermaid' ? mermaid(g) : format === 'dot' ? dot(g) : renderSvg(await layoutGraph(g));
  return c.body(`${body}\n`, 200, {
    'Content-Type': `${GRAPH_MEDIA[format]}; charset=utf-8`,
    Vary: 'Accept',
    // An SVG opened straight from the API must not run anything or load anything, whatever a name holds.
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
}
