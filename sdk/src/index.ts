/**
 * netplumb SDK: typed paths from the OpenAPI spec (schema.d.ts, generated) and a small client on openapi-fetch.
 * - every mutation gets an Idempotency-Key, kept across the client's own retries (network errors, 503);
 * - a 202 (job still running) is followed to the end, so create/delete resolve when the work is done;
 * - a failure throws NetplumbError carrying the RFC 9457 problem.
 */
import createFetchClient from 'openapi-fetch';

/** This SDK's version: the netplumb release it comes from (the service and the SDK are versioned together). */
export const SDK_VERSION = '0.1.0';
/**
 * The service versions this SDK speaks to, a semver range (also `netplumb.serviceVersions` in its package.json):
 * compare it with the `version` of the service's `GET /healthz`. Both kept in step by `npm version` (scripts/version.mjs).
 */
export const SERVICE_VERSIONS = '^0.1.0';
import type { components, paths } from './schema.js';

export type { components, paths };
export type Problem = components['schemas']['Problem'];
export type Job = components['schemas']['Job'];
export type JobLogLine = components['schemas']['JobLogLine'];
export type Host = components['schemas']['Host'];
export type HostCreate = components['schemas']['HostCreate'];
export type Tunnel = components['schemas']['Tunnel'];
export type TunnelCreate = components['schemas']['TunnelCreate'];
export type Bridge = components['schemas']['Bridge'];
export type BridgeCreate = components['schemas']['BridgeCreate'];
export type BridgePatch = components['schemas']['BridgePatch'];
export type Attachment = components['schemas']['Attachment'];
export type AttachmentCreate = components['schemas']['AttachmentCreate'];
export type AttachmentPatch = components['schemas']['AttachmentPatch'];
export type ImpairmentSpec = components['schemas']['ImpairmentSpec'];
export type TunnelPatch = components['schemas']['TunnelPatch'];
export type Topology = components['schemas']['Topology'];
export type TopologyDocument = components['schemas']['TopologyDocument'];
export type TopologyPlan = components['schemas']['TopologyPlan'];
/** A topology document as sent (PUT /topologies/{name}, POST …/plan): fields the service defaults may be left out. */
export type TopologyDocumentInput = NonNullable<paths['/topologies/{name}']['put']['requestBody']>['content']['application/json'];

export class NetplumbError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(`${problem.title} (${status}): ${problem.detail}`);
    this.name = 'NetplumbError';
    this.status = status;
    this.problem = problem;
  }
  get type(): string {
    return this.problem.type;
  }
  get jobId(): string | undefined {
    return this.problem.jobId;
  }
}

/** Every option also takes `undefined` (as "not given"), so `token: process.env.NETPLUMB_TOKEN` type-checks. */
export interface ClientOptions {
  baseUrl: string;
  token?: string | undefined;
  /** Retries of network errors and 503 for mutations (same Idempotency-Key). Default 3. */
  retries?: number | undefined;
  /** Prefer: wait=N seconds for mutations (the server's default is 30). */
  waitSeconds?: number | undefined;
  fetch?: typeof fetch | undefined;
}

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isProblem = (res: Response) => !!res.headers.get('content-type')?.includes('problem+json');

/**
 * fetch with an Idempotency-Key on every mutation, and retries that keep it: after a network error (or a 503
 * that is not the service's own problem answer) the same request goes again. If the first attempt did reach
 * the service and its job is still running, the service says 409 "in progress": wait for that job, then ask
 * again and get the stored response.
 */
function idempotentFetch(base: typeof fetch, baseUrl: string, retries: number): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    if (!MUTATIONS.has(req.method) || retries <= 0) return base(req);
    if (!req.headers.has('idempotency-key')) req.headers.set('idempotency-key', crypto.randomUUID());
    const body = req.body ? await req.arrayBuffer() : undefined;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      try {
        res = await base(new Request(req, body !== undefined ? { body } : {}));
      } catch (e) {
        if (attempt >= retries) throw e;
      }
      if (res) {
        if (attempt > 0 && res.status === 409 && isProblem(res)) {
          const p = (await res
            .clone()
            .json()
            .catch(() => null)) as Problem | null;
          if (p?.type.endsWith('/idempotency-in-progress') && p.jobId) {
            await settle(base, baseUrl, req.headers, p.jobId);
            continue;
          }
        }
        if (res.status !== 503 || isProblem(res) || attempt >= retries) return res;
      }
      await sleep(200 * 2 ** attempt);
    }
  };
}

/** Waits until a job is no longer queued or running (its outcome is then stored for the key). */
async function settle(base: typeof fetch, baseUrl: string, headers: Headers, jobId: string): Promise<void> {
  const auth = headers.get('authorization');
  for (let delay = 100; ; delay = Math.min(delay * 1.5, 2000)) {
    const res = await base(`${baseUrl}/jobs/${encodeURIComponent(jobId)}`, { headers: auth ? { Authorization: auth } : {} });
    if (!res.ok) return;
    const job = (await res.json()) as Job;
    if (job.status !== 'queued' && job.status !== 'running') return;
    await sleep(delay);
  }
}

/** The data of a successful openapi-fetch call, or its problem thrown as a NetplumbError. */
function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || r.data === undefined) throw problemOf(r.response, r.error);
  return r.data;
}

function problemOf(res: Response, fallback: unknown): NetplumbError {
  const detail = typeof fallback === 'string' ? fallback : '';
  const p = (
    fallback && typeof fallback === 'object' ? fallback : { type: 'about:blank', title: res.statusText, status: res.status, detail }
  ) as Problem;
  return new NetplumbError(res.status, p);
}

export function createClient(opts: ClientOptions) {
  const baseFetch = opts.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = {
    ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    ...(opts.waitSeconds !== undefined ? { Prefer: `wait=${opts.waitSeconds}` } : {}),
  };
  const api = createFetchClient<paths>({
    baseUrl: opts.baseUrl,
    headers,
    fetch: idempotentFetch(baseFetch, opts.baseUrl, opts.retries ?? 3),
  });

  async function getJob(id: string): Promise<Job> {
    return unwrap(await api.GET('/jobs/{id}', { params: { path: { id } } }));
  }

  /** Polls until the job is done; resolves with it (succeeded) or throws its problem. */
  async function waitForJob(id: string, o: { timeoutMs?: number | undefined; intervalMs?: number | undefined } = {}): Promise<Job> {
    const deadline = Date.now() + (o.timeoutMs ?? 600_000);
    let interval = o.intervalMs ?? 100;
    for (;;) {
      const job = await getJob(id);
      if (job.status === 'succeeded') return job;
      if (job.status === 'failed' || job.status === 'interrupted') {
        throw new NetplumbError(
          job.error?.status ?? 500,
          job.error ?? { type: 'about:blank', title: 'Job failed', status: 500, detail: job.status },
        );
      }
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after the timeout`);
      await new Promise((r) => setTimeout(r, interval));
      interval = Math.min(interval * 1.5, 2000);
    }
  }

  /** Async iterator over a job's log, live (SSE), resuming with Last-Event-ID if the stream drops. */
  async function* streamJobLogs(
    id: string,
    o: { after?: number | undefined; signal?: AbortSignal | undefined } = {},
  ): AsyncGenerator<JobLogLine, Job> {
    let last = o.after ?? 0;
    for (let drops = 0; ;) {
      const res = await baseFetch(`${opts.baseUrl}/jobs/${encodeURIComponent(id)}/logs`, {
        headers: { ...headers, Accept: 'text/event-stream', ...(last ? { 'Last-Event-ID': String(last) } : {}) },
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (!res.ok || !res.body) throw problemOf(res, await res.json().catch(() => null));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const raw = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = 'message';
            let data = '';
            for (const line of raw.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trimStart();
            }
            if (event === 'log' && data) {
              const l = JSON.parse(data) as JobLogLine;
              last = l.seq;
              yield l;
            } else if (event === 'end') {
              return JSON.parse(data) as Job;
            }
          }
        }
      } finally {
        reader.releaseLock();
      }
      if (++drops > 5) throw new Error(`log stream of ${id} kept dropping`);
    }
  }

  /** Runs a mutation; follows a 202 to the job's end; returns the resource (or undefined for 204). */
  async function mutate<T>(
    call: () => Promise<{ data?: unknown; error?: unknown; response: Response }>,
    reread?: (id: string) => Promise<T>,
  ): Promise<T> {
    const { data, error, response } = await call();
    if (error !== undefined || !response.ok) throw problemOf(response, error);
    if (response.status === 202) {
      const job = await waitForJob((data as { job: Job }).job.id);
      return (reread ? await reread(job.resource.id) : undefined) as T;
    }
    return data as T;
  }

  const hosts = {
    create: (body: HostCreate) =>
      mutate(
        () => api.POST('/hosts', { body }),
        (id) => hosts.get(id),
      ) as Promise<Host & { job?: Job }>,
    list: async (query: NonNullable<paths['/hosts']['get']['parameters']['query']> = {}): Promise<components['schemas']['HostList']> => {
      return unwrap(await api.GET('/hosts', { params: { query } }));
    },
    get: async (idOrName: string): Promise<Host> => {
      return unwrap(await api.GET('/hosts/{idOrName}', { params: { path: { idOrName } } }));
    },
    probe: (idOrName: string) =>
      mutate(
        () => api.POST('/hosts/{idOrName}/probe', { params: { path: { idOrName } } }),
        (id) => hosts.get(id),
      ) as Promise<Host & { job?: Job }>,
    delete: (idOrName: string) => mutate<void>(() => api.DELETE('/hosts/{idOrName}', { params: { path: { idOrName } } })),
    /** Everything the service owns on the host, repaired in one job (bridges, then tunnels, then attachments). */
    repair: (idOrName: string) =>
      mutate(
        () => api.POST('/hosts/{idOrName}/repair', { params: { path: { idOrName } } }),
        (id) => hosts.get(id),
      ) as Promise<Host & { job?: Job }>,
    /** Objects on the host marked by netplumb whose record does not exist. */
    orphans: async (idOrName: string): Promise<components['schemas']['Orphans']> => {
      return unwrap(await api.GET('/hosts/{idOrName}/orphans', { params: { path: { idOrName } } }));
    },
    removeOrphans: async (idOrName: string): Promise<components['schemas']['OrphansRemoved'] | undefined> => {
      const { data, error, response } = await api.DELETE('/hosts/{idOrName}/orphans', { params: { path: { idOrName } } });
      if (error !== undefined || !response.ok) throw problemOf(response, error);
      if (response.status === 202) {
        await waitForJob((data as { job: Job }).job.id);
        return undefined;
      }
      return data as components['schemas']['OrphansRemoved'];
    },
  };

  const bridges = {
    create: (body: BridgeCreate) =>
      mutate(
        () => api.POST('/bridges', { body }),
        (id) => bridges.get(id),
      ) as Promise<Bridge & { job?: Job }>,
    list: async (
      query: NonNullable<paths['/bridges']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['BridgeList']> => {
      return unwrap(await api.GET('/bridges', { params: { query } }));
    },
    /** By id, or by "host/name". */
    get: async (ref: string, o: { observe?: boolean | undefined } = {}): Promise<Bridge> => {
      const query = { observe: o.observe ? ('true' as const) : ('false' as const) };
      const slash = ref.indexOf('/');
      const { data, error, response } =
        slash > 0
          ? await api.GET('/bridges/{host}/{name}', { params: { path: { host: ref.slice(0, slash), name: ref.slice(slash + 1) }, query } })
          : await api.GET('/bridges/{id}', { params: { path: { id: ref }, query } });
      if (error || !data) throw problemOf(response, error);
      return data;
    },
    update: (id: string, body: BridgePatch) =>
      mutate(
        () => api.PATCH('/bridges/{id}', { params: { path: { id } }, body }),
        (rid) => bridges.get(rid),
      ) as Promise<Bridge & { job?: Job }>,
    delete: (id: string, o: { cascade?: boolean | undefined } = {}) =>
      mutate<void>(() => api.DELETE('/bridges/{id}', { params: { path: { id }, query: { cascade: o.cascade ? 'true' : 'false' } } })),
    /** The bridge (re-created if it was deleted by hand), then the tunnel ends and attachments on it. */
    repair: (id: string) =>
      mutate(
        () => api.POST('/bridges/{id}/repair', { params: { path: { id } } }),
        (rid) => bridges.get(rid),
      ) as Promise<Bridge & { job?: Job }>,
  };

  const attachments = {
    create: (body: AttachmentCreate) =>
      mutate(
        () => api.POST('/attachments', { body }),
        (id) => attachments.get(id),
      ) as Promise<Attachment & { job?: Job }>,
    list: async (
      query: NonNullable<paths['/attachments']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['AttachmentList']> => {
      return unwrap(await api.GET('/attachments', { params: { query } }));
    },
    /** observe: also both veth ends as the host has them (paired, addresses, MAC, MTU, routes, carrier), the impairments and the cable, and the drift. */
    get: async (id: string, o: { observe?: boolean | undefined } = {}): Promise<Attachment> => {
      const query = { observe: o.observe ? ('true' as const) : ('false' as const) };
      return unwrap(await api.GET('/attachments/{id}', { params: { path: { id }, query } }));
    },
    /** Routes, rules and the gateway (replaced whole, converged), impairments and the cable (link up/down), live. */
    update: (id: string, body: AttachmentPatch) =>
      mutate(
        () => api.PATCH('/attachments/{id}', { params: { path: { id } }, body }),
        (rid) => attachments.get(rid),
      ) as Promise<Attachment & { job?: Job }>,
    delete: (id: string) => mutate<void>(() => api.DELETE('/attachments/{id}', { params: { path: { id } } })),
    /** Re-attach (same names, addresses, MAC) in the target's current namespace, or reset what differs. */
    repair: (id: string) =>
      mutate(
        () => api.POST('/attachments/{id}/repair', { params: { path: { id } } }),
        (rid) => attachments.get(rid),
      ) as Promise<Attachment & { job?: Job }>,
  };

  const tunnels = {
    create: (body: TunnelCreate) =>
      mutate(
        () => api.POST('/tunnels', { body }),
        (id) => tunnels.get(id),
      ) as Promise<Tunnel & { job?: Job }>,
    list: async (
      query: NonNullable<paths['/tunnels']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['TunnelList']> => {
      return unwrap(await api.GET('/tunnels', { params: { query } }));
    },
    /** observe: also each end's live state from the hosts (OVS error/ofport/link_state, or the Linux device). */
    get: async (id: string, o: { observe?: boolean | undefined } = {}): Promise<Tunnel> => {
      const query = { observe: o.observe ? ('true' as const) : ('false' as const) };
      return unwrap(await api.GET('/tunnels/{id}', { params: { path: { id }, query } }));
    },
    /** Impairments per direction and the link, live (Linux ends only). */
    update: (id: string, body: TunnelPatch) =>
      mutate(
        () => api.PATCH('/tunnels/{id}', { params: { path: { id } }, body }),
        (rid) => tunnels.get(rid),
      ) as Promise<Tunnel & { job?: Job }>,
    delete: (id: string) => mutate<void>(() => api.DELETE('/tunnels/{id}', { params: { path: { id } } })),
    repair: (id: string) =>
      mutate(
        () => api.POST('/tunnels/{id}/repair', { params: { path: { id } } }),
        (rid) => tunnels.get(rid),
      ) as Promise<Tunnel & { job?: Job }>,
  };

  const topologies = {
    /**
     * Creates or converges a topology from its document (an object; YAML text goes through `api.PUT` with
     * `Content-Type: application/yaml`). Resolves when the job is done, with the topology and the plan it ran.
     */
    apply: (name: string, document: TopologyDocumentInput) =>
      mutate(
        () => api.PUT('/topologies/{name}', { params: { path: { name }, query: { dryRun: 'false' } }, body: document }),
        (id) => topologies.get(id),
      ) as Promise<Topology & { job?: Job; plan?: TopologyPlan }>,
    /** What applying the document would change, per host, with the commands; nothing runs. */
    plan: async (name: string, document: TopologyDocumentInput): Promise<TopologyPlan> => {
      return unwrap(await api.POST('/topologies/{name}/plan', { params: { path: { name } }, body: document }));
    },
    list: async (
      query: NonNullable<paths['/topologies']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['TopologyList']> => {
      return unwrap(await api.GET('/topologies', { params: { query } }));
    },
    /** observe: also the drift of everything it owns, from the hosts. */
    get: async (name: string, o: { observe?: boolean | undefined } = {}): Promise<Topology> => {
      const query = { observe: o.observe ? ('true' as const) : ('false' as const) };
      return unwrap(await api.GET('/topologies/{name}', { params: { path: { name }, query } }));
    },
    delete: (name: string) => mutate<void>(() => api.DELETE('/topologies/{name}', { params: { path: { name } } })),
    /** Everything it owns, repaired as its document says. */
    repair: (name: string) =>
      mutate(
        () => api.POST('/topologies/{name}/repair', { params: { path: { name } } }),
        (id) => topologies.get(id),
      ) as Promise<Topology & { job?: Job }>,
  };

  const jobs = {
    get: getJob,
    list: async (query: NonNullable<paths['/jobs']['get']['parameters']['query']> = {}): Promise<components['schemas']['JobList']> => {
      return unwrap(await api.GET('/jobs', { params: { query } }));
    },
    logs: async (id: string, query: { after?: number; limit?: number } = {}): Promise<components['schemas']['JobLogPage']> => {
      const { data, error, response } = await api.GET('/jobs/{id}/logs', {
        params: { path: { id }, query },
        headers: { Accept: 'application/json' },
      });
      if (error || !data) throw problemOf(response, error);
      return data as components['schemas']['JobLogPage'];
    },
  };

  return { api, hosts, bridges, attachments, tunnels, topologies, jobs, waitForJob, streamJobLogs, mutate };
}

export type NetplumbClient = ReturnType<typeof createClient>;
