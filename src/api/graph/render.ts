/** The service's resources as graph input, and the picture in the asked format. */
import type { Context } from 'hono';
import { layoutGraph } from '../../graph/layout.js';
import type { GraphInput } from '../../graph/model.js';
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
import { GRAPH_MEDIA, type GraphFormat } from './schema.js';

/** Everything the service holds: every host (also those without bridges), bridge, tunnel and attachment. */
export function serviceGraph(store: Store): GraphInput {
  return {
    title: 'netplumb',
    hosts: readAll(store, 'host').map(renderHost),
    bridges: readAll(store, 'bridge').map(renderBridge),
    tunnels: readAll(store, 'tunnel').map(renderTunnel),
    attachments: readAll(store, 'attachment').map(renderAttachment),
  };
}

/** What a topology owns, on its hosts. */
export function topologyGraph(store: Store, t: TypedResource<'topology'>): GraphInput {
  const view = renderTopology(store, t);
  const owned = new Set(Object.values(view.resources));
  const hosts = new Set(view.hosts);
  return {
    title: view.name,
    hosts: readAll(store, 'host')
      .map(renderHost)
      .filter((h) => hosts.has(h.name)),
    bridges: readAll(store, 'bridge')
      .filter((r) => owned.has(r.id))
      .map(renderBridge),
    tunnels: readAll(store, 'tunnel')
      .filter((r) => owned.has(r.id))
      .map(renderTunnel),
    attachments: readAll(store, 'attachment')
      .filter((r) => owned.has(r.id))
      .map(renderAttachment),
  };
}

export async function graphResponse(c: Context, g: GraphInput, format: GraphFormat): Promise<Response> {
  const body = format === 'mermaid' ? mermaid(g) : format === 'dot' ? dot(g) : renderSvg(await layoutGraph(g));
  return c.body(`${body}\n`, 200, {
    'Content-Type': `${GRAPH_MEDIA[format]}; charset=utf-8`,
    // An SVG opened straight from the API must not run anything or load anything, whatever a name holds.
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
}
