import { z } from '@hono/zod-openapi';

export const GRAPH_MEDIA = {
  mermaid: 'text/vnd.mermaid',
  dot: 'text/vnd.graphviz',
  svg: 'image/svg+xml',
} as const;
export type GraphFormat = keyof typeof GRAPH_MEDIA;
const FORMATS: readonly GraphFormat[] = ['svg', 'mermaid', 'dot'];

/** The format asked for (`format`), or the one `Accept` prefers (svg first); the media type must be acceptable. */
export function formatOf(accept: (offered: readonly string[]) => string, asked: GraphFormat | undefined): GraphFormat {
  const media = accept(asked ? [GRAPH_MEDIA[asked]] : [GRAPH_MEDIA.svg, GRAPH_MEDIA.mermaid, GRAPH_MEDIA.dot]);
  return FORMATS.find((f) => GRAPH_MEDIA[f] === media) ?? 'svg';
}

export const GraphQuery = z.object({
  format: z
    .enum(['mermaid', 'dot', 'svg'])
    .optional()
    .openapi({
      param: { name: 'format', in: 'query' },
      description:
        'svg: a self-contained picture laid out with ELK, the same drawing as /ui; mermaid: a `flowchart` for Markdown (GitHub, GitLab render it); dot: Graphviz. ' +
        'Without it, `Accept` chooses (`image/svg+xml`, `text/vnd.mermaid`, `text/vnd.graphviz`), svg when it admits any; with it, `Accept` must admit its media type (else 406).',
    }),
});

export const GraphObserveQuery = z.object({
  observe: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({
      param: { name: 'observe', in: 'query' },
      description:
        'also read every bridge, tunnel and attachment from its host and draw the drift (an end missing on its host drawn as missing); a resource that cannot be read is marked, not an error',
    }),
});

/** One 200 per format, each with its own media type (the body is text, not JSON). */
export const graphContent = {
  [GRAPH_MEDIA.svg]: {
    schema: z.string().openapi({
      description: 'an SVG 1.1 document (no script, no external references)',
      example: '<svg xmlns="http://www.w3.org/2000/svg" …>…</svg>',
    }),
  },
  [GRAPH_MEDIA.mermaid]: {
    schema: z.string().openapi({ description: 'a Mermaid flowchart', example: 'flowchart LR\n  subgraph host_docker1["docker1"]\n  …' }),
  },
  [GRAPH_MEDIA.dot]: {
    schema: z.string().openapi({ description: 'a Graphviz graph (`dot -Tpng`)', example: 'graph "seed" {\n  rankdir=LR;\n  …\n}' }),
  },
};
