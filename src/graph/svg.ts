/**
 * A laid-out scene as one SVG document: plain SVG with presentation attributes only (no <style>, no script), so it is
 * a safe, self-contained file for a CI report and can be put in a page that forbids inline styles (CSP). The page
 * adds keyboard focus (`interactive`) and styles hover/selection from its own stylesheet.
 */
import { FONT_SIZE, LINE_HEIGHT, type Scene, type SceneBox, type SceneEdge } from './layout.js';

export const FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLORS = {
  host: { fill: '#f6f8fa', stroke: '#57606a' },
  bridge: { fill: '#ddf4ff', stroke: '#0969da' },
  attachment: { fill: '#fff8c5', stroke: '#9a6700' },
  tunnel: '#8250df',
  missing: { fill: '#ffebe9', stroke: '#cf222e' },
  drift: { stroke: '#bc4c00' },
  text: '#1f2328',
};

export interface SvgOptions {
  /** Focusable items with roles and data attributes (the page); off for exports. */
  interactive?: boolean;
}

function text(lines: string[], x: number, y: number, opts: { bold?: boolean; anchor?: 'start' | 'middle'; fill?: string } = {}): string {
  const tspans = lines.map((l, i) => `<tspan x="${x}" dy="${i === 0 ? 0 : LINE_HEIGHT}">${esc(l)}</tspan>`).join('');
  return `<text x="${x}" y="${y}" font-family="${esc(FONT)}" font-size="${FONT_SIZE}" fill="${opts.fill ?? COLORS.text}"${opts.bold ? ' font-weight="bold"' : ''}${opts.anchor === 'middle' ? ' text-anchor="middle"' : ''}>${tspans}</text>`;
}

function itemAttrs(id: string, kind: string, name: string, status: string, o: SvgOptions): string {
  const base = `class="np-item np-${kind} np-${status}" data-id="${esc(id)}" data-kind="${kind}" data-status="${status}"`;
  return o.interactive ? `${base} tabindex="0" role="button" aria-label="${esc(`${name}${status === 'ok' ? '' : `, ${status}`}`)}"` : base;
}

const statusOf = (b: { drift: { status: string } | null }) =>
  b.drift && b.drift.status !== 'ok' && b.drift.status !== 'unavailable' ? b.drift.status : 'ok';

function boxSvg(b: SceneBox, o: SvgOptions): string {
  const st = statusOf(b);
  const c = b.kind === 'host' ? COLORS.host : b.kind === 'bridge' ? COLORS.bridge : COLORS.attachment;
  const fill = st === 'missing' ? COLORS.missing.fill : c.fill;
  const stroke = st === 'missing' ? COLORS.missing.stroke : st === 'drift' ? COLORS.drift.stroke : c.stroke;
  const dash = st === 'missing' ? ' stroke-dasharray="6 4"' : '';
  const rx = b.kind === 'attachment' ? 14 : b.kind === 'host' ? 8 : 4;
  const lines = st === 'missing' ? [...b.lines, 'MISSING on the host'] : st === 'drift' ? [...b.lines, 'DRIFT'] : b.lines;
  const title = `<title>${esc([b.name, ...(b.drift?.details ?? [])].join('\n'))}</title>`;
  const label =
    b.kind === 'host'
      ? text(lines, b.x + 12, b.y + 12 + FONT_SIZE, { bold: true })
      : text(lines, b.x + 10, b.y + 5 + FONT_SIZE, { bold: false });
  return (
    `<g ${itemAttrs(b.id, b.kind, b.name, st, o)}>${title}` +
    `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="${rx}" fill="${fill}" stroke="${stroke}" stroke-width="${st === 'ok' ? 1.5 : 2.5}"${dash}/>` +
    `${label}</g>`
  );
}

const path = (pts: { x: number; y: number }[]) => pts.map((p, i) => `${i ? 'L' : 'M'}${Math.round(p.x)} ${Math.round(p.y)}`).join(' ');

function edgeSvg(e: SceneEdge, o: SvgOptions): string {
  if (e.points.length < 2) return '';
  if (e.kind === 'attachment') {
    const st = statusOf(e);
    return `<path class="np-link" d="${path(e.points)}" fill="none" stroke="${st === 'missing' ? COLORS.missing.stroke : COLORS.attachment.stroke}" stroke-width="1.5"${st === 'missing' ? ' stroke-dasharray="6 4"' : ''}/>`;
  }
  const st = statusOf(e);
  const first = e.points[0]!;
  const last = e.points[e.points.length - 1]!;
  const mid = (a: { x: number; y: number }, b: { x: number; y: number }) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
  // Each end drawn on its own: an end missing on its host is dashed red from its bridge to the middle.
  const half =
    e.points.length === 2
      ? [
          [first, mid(first, last)],
          [mid(first, last), last],
        ]
      : [e.points.slice(0, Math.ceil(e.points.length / 2)), e.points.slice(Math.floor(e.points.length / 2))];
  const color = st === 'drift' && !e.ends.some((x) => x.missing) ? COLORS.drift.stroke : COLORS.tunnel;
  const halves = half
    .map((pts, i) => {
      const missing = e.ends[i]?.missing;
      return `<path class="np-tunnel-end${missing ? ' np-end-missing' : ''}" data-end="${i}" d="${path(pts)}" fill="none" stroke="${missing ? COLORS.missing.stroke : color}" stroke-width="3"${missing ? ' stroke-dasharray="6 4"' : ''}/>`;
    })
    .join('');
  const endLabels = e.ends
    .map((end, i) => {
      const p = i === 0 ? first : last;
      const words = end.missing ? [`✕ ${end.portName} missing`] : [end.portName];
      const x = i === 0 ? p.x + 4 : p.x - 4;
      return `<text x="${Math.round(x)}" y="${Math.round(p.y - 6)}" font-family="${esc(FONT)}" font-size="${FONT_SIZE - 2}" fill="${end.missing ? COLORS.missing.stroke : COLORS.tunnel}"${i === 0 ? '' : ' text-anchor="end"'}>${esc(words[0]!)}</text>`;
    })
    .join('');
  const lab = e.label
    ? `<rect x="${e.label.x}" y="${e.label.y}" width="${e.label.w}" height="${e.label.h}" rx="4" fill="#ffffff" stroke="${st === 'ok' ? COLORS.tunnel : st === 'missing' || e.ends.some((x) => x.missing) ? COLORS.missing.stroke : COLORS.drift.stroke}"/>` +
      text(e.label.lines, e.label.x + 10, e.label.y + 5 + FONT_SIZE)
    : '';
  const title = `<title>${esc([e.name, ...(e.drift?.details ?? [])].join('\n'))}</title>`;
  return `<g ${itemAttrs(e.id, 'tunnel', e.name, st, o)}>${title}${halves}${endLabels}${lab}</g>`;
}

export function renderSvg(scene: Scene, o: SvgOptions = {}): string {
  const w = Math.max(scene.width, 200);
  const h = Math.max(scene.height, 60);
  const empty = !scene.hosts.length ? text(['nothing to draw yet'], 16, 36) : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="np-graph" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(`network ${scene.title}`)}">` +
    `<title>${esc(scene.title)}</title>` +
    `<rect class="np-background" x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>` +
    scene.hosts.map((b) => boxSvg(b, o)).join('') +
    scene.edges
      .filter((e) => e.kind === 'attachment')
      .map((e) => edgeSvg(e, o))
      .join('') +
    scene.nodes.map((b) => boxSvg(b, o)).join('') +
    scene.edges
      .filter((e) => e.kind === 'tunnel')
      .map((e) => edgeSvg(e, o))
      .join('') +
    empty +
    '</svg>'
  );
}
