/** Topology commands: apply, plan, get, status, destroy, graph; and the embedded up/down built on them. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Job, NetplumbClient, Topology, TopologyPlan } from '../../sdk/src/index.js';
import { CliError, EXIT, optionalString, requireString, type Invocation } from './args.js';
import { layoutGraph } from '../graph/layout.js';
import type { GraphInput } from '../graph/model.js';
import { renderSvg } from '../graph/svg.js';
import { dot, mermaid } from '../graph/text.js';
import { formatPlan, formatProblem, formatTopology, formatTopologyList, isDisruptive, render } from './output.js';
import { isInteractive, Progress } from './progress.js';
import { problemError, type Session } from './session.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** the stream progress is drawn on (a TTY gets the live display) */
  progressStream: { isTTY?: boolean; write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

export interface DocumentFile {
  name: string;
  body: string;
  contentType: 'application/yaml' | 'application/json';
}

/** The document as the service will get it (YAML or JSON text, unchanged); its name from --name or its `name`. */
export function readDocumentFile(file: string, nameOption?: string): DocumentFile {
  let body: string;
  try {
    body = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.usage);
  }
  const contentType = /\.json$/i.test(file) ? 'application/json' : 'application/yaml';
  if (nameOption) return { name: nameOption, body, contentType };
  let doc: unknown;
  try {
    doc = parse(body, { maxAliasCount: 64 });
  } catch (e) {
    throw new CliError(`${file} is not a YAML or JSON document: ${(e as Error).message.split('\n')[0]}`, EXIT.usage);
  }
  const name = doc && typeof doc === 'object' && 'name' in doc ? doc.name : undefined;
  if (typeof name !== 'string' || !name)
    throw new CliError(`${file} has no name: add \`name: …\` to the document or pass --name`, EXIT.usage);
  return { name, body, contentType };
}

const ETAG = /^"[a-z]+_[a-z0-9]+\.\d+"$/;

/**
 * PUT the document (a dry run: the plan, with the ETag of the topology it was planned against, null when there is
 * none). `planned` makes the apply conditional on that version: If-Match its ETag, or If-None-Match: * when the plan
 * found no topology, so an apply never lands on a topology someone changed (or made) after the plan was shown.
 */
async function putDocument(
  np: NetplumbClient,
  doc: DocumentFile,
  o: { dryRun: boolean; planned?: { etag: string | null } },
): Promise<{ data: unknown; etag: string | null }> {
  const conditions = o.planned ? (o.planned.etag ? { 'If-Match': o.planned.etag } : { 'If-None-Match': '*' }) : {};
  if (o.planned?.etag && !ETAG.test(o.planned.etag))
    throw new CliError(`--if-match takes an ETag as plan prints it ("top_….N"), not ${JSON.stringify(o.planned.etag)}`, EXIT.usage);
  const r = await np.api.PUT('/topologies/{name}', {
    params: { path: { name: doc.name }, query: { dryRun: o.dryRun ? 'true' : 'false' } },
    body: doc.body as never,
    bodySerializer: (b: unknown) => b as string,
    headers: { 'Content-Type': doc.contentType, ...(o.dryRun ? {} : { Prefer: 'respond-async' }), ...conditions },
  });
  if (r.response.status === 412 && o.planned) {
    throw new CliError(
      `refused: topology ${doc.name} ${o.planned.etag ? 'changed' : 'was created'} after the plan above was made (someone else applied or deleted it); nothing was applied — run apply again to see the plan against what it is now`,
      EXIT.changed,
    );
  }
  if (r.error !== undefined || !r.response.ok) throw problemError(r.response, r.error);
  return { data: r.data, etag: r.response.headers.get('etag') };
}

/** Commands per host in the plan: the totals the progress display counts towards. */
export function plannedCommands(plan: TopologyPlan): Record<string, number> {
  const n: Record<string, number> = {};
  for (const c of plan.changes) for (const [h, cmds] of Object.entries(c.commands)) n[h] = (n[h] ?? 0) + cmds.length;
  return n;
}

/** Follows a job's live log to its end with the progress display; the job as it ended. */
export async function followJob(np: NetplumbClient, io: Io, job: Job, label: string, planned?: Record<string, number>): Promise<Job> {
  const progress = new Progress(label, {
    tty: isInteractive(io.progressStream, io.env),
    write: (s) => void io.progressStream.write(s),
    ...(planned ? { planned } : {}),
  });
  const logs = np.streamJobLogs(job.id);
  for (let r = await logs.next(); !r.done; r = await logs.next()) progress.line(r.value);
  const final = await np.jobs.get(job.id);
  progress.finish(final);
  return final;
}

function jobOutcome(io: Io, job: Job): number {
  if (job.status === 'succeeded') return EXIT.ok;
  io.err(
    formatProblem(
      job.error
        ? { ...job.error, jobId: job.id, ...(job.status === 'failed' || job.status === 'interrupted' ? { jobStatus: job.status } : {}) }
        : { type: 'about:blank', title: 'Job failed', status: 500, detail: `job ${job.id} ${job.status}` },
    ),
  );
  return EXIT.jobFailed;
}

/** plan (printed), then apply and follow the job: exit 0 only when it succeeded. */
export async function apply(s: Session, io: Io, inv: Invocation): Promise<number> {
  const doc = readDocumentFile(requireString(inv, 'file', '-f FILE: the topology document'), optionalString(inv, 'name'));
  // --if-match: the version a plan printed earlier (reviewed, say, in a merge request): the plan shown now must be
  // made against that same version, and the apply lands only on it.
  const reviewed = optionalString(inv, 'if-match');
  const planned = await putDocument(s.np, doc, { dryRun: true, ...(reviewed ? { planned: { etag: reviewed } } : {}) });
  const plan = planned.data as TopologyPlan;
  io.out(formatPlan(plan));
  if (inv.values['dry-run']) return EXIT.ok;
  if (inv.values['refuse-disruptive'] && isDisruptive(plan)) {
    io.err(`refused: the plan has disruptive changes (link-flap/reattach) and --refuse-disruptive was given; nothing was applied`);
    return EXIT.disruptive;
  }
  const accepted = (await putDocument(s.np, doc, { dryRun: false, planned })).data as { job: Job };
  const job = await followJob(s.np, io, accepted.job, `apply ${doc.name}`, plannedCommands(plan));
  const code = jobOutcome(io, job);
  if (code === EXIT.ok) {
    const t = await s.np.topologies.get(doc.name);
    io.out(
      `applied ${t.name}: ${t.state}, ${Object.keys(t.resources).length} resource(s) on ${t.hosts.join(', ') || 'no host'} (job ${job.id})`,
    );
  }
  return code;
}

export async function plan(s: Session, io: Io, inv: Invocation): Promise<number> {
  const doc = readDocumentFile(requireString(inv, 'file', '-f FILE: the topology document'), optionalString(inv, 'name'));
  const planned = await putDocument(s.np, doc, { dryRun: true });
  const p = planned.data as TopologyPlan;
  io.out(render(p, inv.output, formatPlan));
  // The version it was planned against (not in -o json/yaml, which print the plan as the service answers it).
  if (inv.output === 'table')
    io.out(
      planned.etag
        ? `planned against ${doc.name} at ${planned.etag}: \`netplumb apply -f … --if-match '${planned.etag}'\` applies it only onto that version`
        : `planned against no topology ${doc.name} (it would be created)`,
    );
  return EXIT.ok;
}

export async function get(s: Session, io: Io, inv: Invocation): Promise<number> {
  const t = await s.np.topologies.get(inv.args[0]!, { observe: !!inv.values.observe });
  io.out(render(t, inv.output, formatTopology));
  return EXIT.ok;
}

/** status: every topology; status NAME: that one with its drift observed on the hosts. */
export async function status(s: Session, io: Io, inv: Invocation): Promise<number> {
  if (inv.args[0]) return get(s, io, { ...inv, values: { ...inv.values, observe: true } });
  const items: Topology[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.np.topologies.list({ limit: 100, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  io.out(render(items, inv.output, formatTopologyList));
  return EXIT.ok;
}

export async function destroyTopology(s: Session, io: Io, name: string, o: { ignoreMissing?: boolean } = {}): Promise<number> {
  const r = await s.np.api.DELETE('/topologies/{name}', { params: { path: { name } }, headers: { Prefer: 'respond-async' } });
  if (r.response.status === 404 && o.ignoreMissing) {
    io.out(`no topology ${name}: nothing to destroy`);
    return EXIT.ok;
  }
  if (r.error !== undefined || !r.response.ok) throw problemError(r.response, r.error);
  const job = (r.data as { job?: Job } | undefined)?.job;
  const code = job ? jobOutcome(io, await followJob(s.np, io, job, `destroy ${name}`)) : EXIT.ok;
  if (code === EXIT.ok) io.out(`destroyed ${name}${job ? ` (job ${job.id})` : ''}`);
  return code;
}

export const destroy = (s: Session, io: Io, inv: Invocation) =>
  destroyTopology(s, io, inv.args[0]!, { ignoreMissing: !!inv.values['ignore-missing'] });

/** The same renderers as the service's `GET /topologies/{name}/graph` (src/graph/), over what the SDK reads. */
export async function graph(s: Session, io: Io, inv: Invocation): Promise<number> {
  const format = optionalString(inv, 'format') ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot' && format !== 'svg')
    throw new CliError(`--format takes mermaid, dot or svg (not "${format}")`, EXIT.usage);
  const topology = await s.np.topologies.get(inv.args[0]!);
  const g: GraphInput = {
    title: topology.name,
    hosts: topology.hosts.map((name) => ({ name })),
    bridges: [],
    tunnels: [],
    attachments: [],
  };
  for (const [slot, id] of Object.entries(topology.resources)) {
    if (slot.startsWith('bridge:')) g.bridges.push(await s.np.bridges.get(id));
    else if (slot.startsWith('tunnel:')) g.tunnels.push(await s.np.tunnels.get(id));
    else if (slot.startsWith('attachment:')) g.attachments.push(await s.np.attachments.get(id));
  }
  io.out(format === 'dot' ? dot(g) : format === 'svg' ? renderSvg(await layoutGraph(g)) : mermaid(g));
  return EXIT.ok;
}
