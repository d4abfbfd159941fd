/**
 * The netplumb page: the network drawn with the shared graph module (ELK layout + plain SVG, the same code as the
 * SVG export), a details panel (JSON, last jobs, observe), a job panel streaming live logs, and updates without a
 * reload: jobs.ts polls /jobs; when a job finishes, the resources are read again and the picture redrawn.
 */
import type { AttachmentView } from '../model/attachments.js';
import type { BridgeView } from '../model/bridges.js';
import type { HostView } from '../model/hosts.js';
import type { JobView } from '../model/jobs.js';
import type { TopologyView } from '../model/topologies.js';
import type { TunnelView } from '../model/tunnels.js';
import { layoutGraph } from '../graph/layout.js';
import { driftOf, type GraphDrift, type GraphInput } from '../graph/model.js';
import { renderSvg } from '../graph/svg.js';
import { getAll, getJson, HttpError, setUnauthorizedHandler, token } from './api.js';
import { $, h } from './dom.js';
import { jobItem, loadJobs, pollLoop } from './jobs.js';

type Kind = 'host' | 'bridge' | 'attachment' | 'tunnel';
const PATHS: Record<Kind, string> = { host: '/hosts', bridge: '/bridges', attachment: '/attachments', tunnel: '/tunnels' };
/** Kinds whose GET takes ?observe=true; hosts are probed (a job) instead. */
const OBSERVABLE = new Set<Kind>(['bridge', 'attachment', 'tunnel']);

const state = {
  hosts: [] as HostView[],
  bridges: [] as BridgeView[],
  tunnels: [] as TunnelView[],
  attachments: [] as AttachmentView[],
  topologies: [] as TopologyView[],
  topology: '',
  drift: {} as Record<string, GraphDrift>,
  selected: null as { id: string; kind: Kind } | null,
  renderSeq: 0,
};

const status = (text: string) => ($('status').textContent = text);

// ---- token

let tokenWaiters: (() => void)[] = [];
function askToken(reason: string): Promise<void> {
  const dialog = $('token-dialog') as HTMLDialogElement;
  $('token-error').textContent = reason;
  if (!dialog.open) dialog.showModal();
  ($('token-input') as HTMLInputElement).focus();
  return new Promise((r) => tokenWaiters.push(r));
}
setUnauthorizedHandler(askToken);
function initToken(): void {
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('token-input') as HTMLInputElement;
    const t = input.value.trim();
    if (!t) return;
    token.set(t);
    input.value = '';
    ($('token-dialog') as HTMLDialogElement).close();
    const w = tokenWaiters;
    tokenWaiters = [];
    w.forEach((r) => r());
  });
  $('token-button').addEventListener('click', () => {
    token.clear();
    void askToken('enter a new token').then(() => refresh());
  });
}

// ---- data and picture

function byId(id: string): { kind: Kind; view: unknown } | null {
  const h = state.hosts.find((x) => x.id === id);
  if (h) return { kind: 'host', view: h };
  const b = state.bridges.find((x) => x.id === id);
  if (b) return { kind: 'bridge', view: b };
  const t = state.tunnels.find((x) => x.id === id);
  if (t) return { kind: 'tunnel', view: t };
  const a = state.attachments.find((x) => x.id === id);
  if (a) return { kind: 'attachment', view: a };
  return null;
}

async function loadAll(): Promise<void> {
  const [hosts, bridges, tunnels, attachments, topologies] = await Promise.all([
    getAll<HostView>('/hosts'),
    getAll<BridgeView>('/bridges'),
    getAll<TunnelView>('/tunnels'),
    getAll<AttachmentView>('/attachments'),
    getAll<TopologyView>('/topologies'),
  ]);
  Object.assign(state, { hosts, bridges, tunnels, attachments, topologies });
  // Drift of resources that are gone is forgotten.
  for (const id of Object.keys(state.drift)) if (!byId(id)) delete state.drift[id];
  const select = $('topology') as HTMLSelectElement;
  const names = topologies.map((t) => t.name);
  if (state.topology && !names.includes(state.topology)) state.topology = '';
  select.replaceChildren(
    h('option', { value: '' }, 'all resources'),
    ...names.map((n) => h('option', { value: n, ...(n === state.topology ? { selected: true } : {}) }, n)),
  );
}

function graphInput(): GraphInput {
  const t = state.topologies.find((x) => x.name === state.topology);
  if (!t) {
    return {
      title: 'netplumb',
      hosts: state.hosts,
      bridges: state.bridges,
      tunnels: state.tunnels,
      attachments: state.attachments,
      drift: state.drift,
    };
  }
  const owned = new Set(Object.values(t.resources));
  const hosts = new Set(t.hosts);
  return {
    title: t.name,
    hosts: state.hosts.filter((x) => hosts.has(x.name)),
    bridges: state.bridges.filter((x) => owned.has(x.id)),
    tunnels: state.tunnels.filter((x) => owned.has(x.id)),
    attachments: state.attachments.filter((x) => owned.has(x.id)),
    drift: state.drift,
  };
}

async function draw(): Promise<void> {
  const seq = ++state.renderSeq;
  const scene = await layoutGraph(graphInput());
  if (seq !== state.renderSeq) return; // a newer drawing is under way
  const container = $('graph');
  const focused = document.activeElement?.closest('#graph [data-id]')?.getAttribute('data-id');
  container.innerHTML = renderSvg(scene, { interactive: true });
  const svg = container.querySelector('svg');
  svg?.setAttribute('role', 'group');
  if (state.selected) container.querySelector(`[data-id="${CSS.escape(state.selected.id)}"]`)?.classList.add('selected');
  if (focused) container.querySelector<SVGGElement>(`[data-id="${CSS.escape(focused)}"]`)?.focus();
}

async function refresh(): Promise<void> {
  try {
    await loadAll();
    await draw();
    await showDetails();
    status(`updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    status(`could not load: ${(e as Error).message}`);
  }
}

// ---- details

async function lastJobs(id: string): Promise<JobView[]> {
  return (await getAll<JobView>(`/jobs?resource=${encodeURIComponent(id)}`)).slice(-8).reverse();
}

function driftBlock(d: GraphDrift | undefined): HTMLElement | null {
  if (!d) return null;
  const label =
    d.status === 'ok' ? 'as wanted: no drift' : d.status === 'unavailable' ? 'observe is not available for this kind here' : d.status;
  return h(
    'div',
    { class: `drift drift-${d.status}`, 'data-drift': d.status },
    h('strong', {}, `Observed: ${label}`),
    d.details.length && d.status !== 'unavailable' ? h('ul', {}, ...d.details.map((x) => h('li', {}, x))) : null,
  );
}

async function showDetails(): Promise<void> {
  const body = $('details-body');
  const sel = state.selected;
  if (!sel) return;
  const found = byId(sel.id);
  if (!found) {
    body.replaceChildren(h('p', { class: 'hint' }, `${sel.kind} ${sel.id} no longer exists.`));
    return;
  }
  const view = found.view as { id: string; name?: string; jobId?: string | null; state?: string };
  const jobsList = h('ol', { class: 'mini-jobs' }, h('li', { class: 'hint' }, 'loading…'));
  const observeButton = OBSERVABLE.has(sel.kind)
    ? h('button', { type: 'button', id: 'observe', onclick: () => void observe(sel.id, sel.kind) }, 'Observe')
    : h('p', { class: 'hint' }, 'Hosts are checked with a probe (POST /hosts/{name}/probe), not observed.');
  body.replaceChildren(
    h('p', {}, h('span', { class: `badge kind-${sel.kind}` }, sel.kind), ' ', h('code', {}, view.id), view.state ? ` · ${view.state}` : ''),
    observeButton,
    h('div', { id: 'drift-box' }, driftBlock(state.drift[sel.id])),
    h('h3', {}, 'Last jobs'),
    jobsList,
    h('h3', {}, 'JSON'),
    h('pre', { class: 'json', tabindex: '0', 'aria-label': 'resource JSON' }, JSON.stringify(view, null, 2)),
  );
  try {
    const jobs = await lastJobs(sel.id);
    jobsList.replaceChildren(...(jobs.length ? jobs.map(jobItem) : [h('li', { class: 'hint' }, 'none')]));
  } catch (e) {
    jobsList.replaceChildren(h('li', { class: 'error' }, (e as Error).message));
  }
}

function select(id: string, kind: Kind): void {
  state.selected = { id, kind };
  document.querySelectorAll('#graph .selected').forEach((e) => e.classList.remove('selected'));
  document.querySelector(`#graph [data-id="${CSS.escape(id)}"]`)?.classList.add('selected');
  void showDetails();
}

/** GET ?observe=true: the drift goes on the picture. A kind without observe answers without `observed`: shown as such. */
/** A resource view as `?observe=true` answers it (any kind: the drift shape is shared). */
type ObservedView = NonNullable<Parameters<typeof driftOf>[0]>;

async function observeOne(id: string, kind: Kind): Promise<GraphDrift> {
  try {
    const v = await getJson<ObservedView>(`${PATHS[kind]}/${encodeURIComponent(id)}?observe=true`);
    return driftOf(v);
  } catch (e) {
    // An older service may refuse the parameter for a kind it cannot observe.
    if (e instanceof HttpError && (e.status === 400 || e.status === 422 || e.status === 405)) return driftOf(null);
    throw e;
  }
}

async function observe(id: string, kind: Kind): Promise<void> {
  status(`observing ${kind} ${id}…`);
  try {
    state.drift[id] = await observeOne(id, kind);
    await draw();
    await showDetails();
    status(`observed ${kind} ${id}: ${state.drift[id].status}`);
  } catch (e) {
    status(`observe failed: ${(e as Error).message}`);
  }
}

async function observeAll(): Promise<void> {
  const g = graphInput();
  const items: [string, Kind][] = [
    ...g.bridges.map((b) => [b.id, 'bridge'] as [string, Kind]),
    ...g.tunnels.map((t) => [t.id, 'tunnel'] as [string, Kind]),
    ...g.attachments.map((a) => [a.id, 'attachment'] as [string, Kind]),
  ];
  status(`observing ${items.length} resources…`);
  let failed = 0;
  const queue = [...items];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let it = queue.shift(); it; it = queue.shift()) {
        try {
          state.drift[it[0]] = await observeOne(it[0], it[1]);
        } catch {
          failed++;
        }
      }
    }),
  );
  await draw();
  await showDetails();
  const drifted = items.filter(([id]) => ['drift', 'missing'].includes(state.drift[id]?.status ?? '')).length;
  status(`observed ${items.length - failed} of ${items.length}: ${drifted} drifted${failed ? `, ${failed} could not be read` : ''}`);
}

// ---- wiring

function initGraphEvents(): void {
  const g = $('graph');
  const pick = (target: EventTarget | null) => {
    const item = (target as Element | null)?.closest?.('[data-id]');
    const id = item?.getAttribute('data-id');
    const kind = item?.getAttribute('data-kind') as Kind | null;
    if (id && kind) select(id, kind);
  };
  g.addEventListener('click', (e) => pick(e.target));
  g.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pick(e.target);
    }
  });
  $('topology').addEventListener('change', (e) => {
    state.topology = (e.target as HTMLSelectElement).value;
    void draw();
  });
  $('refresh').addEventListener('click', () => void refresh());
  $('observe-all').addEventListener('click', () => void observeAll());
  $('fit').addEventListener('click', (e) => {
    const on = $('graph').classList.toggle('fit');
    (e.currentTarget as HTMLElement).setAttribute('aria-pressed', String(on));
  });
}

async function main(): Promise<void> {
  initToken();
  initGraphEvents();
  const auth = document.querySelector('meta[name="netplumb-auth"]')?.getAttribute('content');
  if (auth === 'bearer' && !token.get()) await askToken('this service needs a token');
  await refresh();
  try {
    await loadJobs();
  } catch (e) {
    status(`could not read jobs: ${(e as Error).message}`);
  }
  await pollLoop({ onFinished: refresh, status });
}

void main();
