/**
 * netplumb SDK: typed paths from the OpenAPI spec (schema.d.ts, generated) and a small client on openapi-fetch.
 * - every mutation gets an Idempotency-Key, kept across the client's own retries (network errors, 429/503 after their
 *   Retry-After; `retries: 0` turns them off);
 * - a 202 (job still running) is followed to the end, so a mutation resolves with what the operation answers when its
 *   job is done: the resource with its `job` (a topology also with its `plan`);
 * - a failure throws NetplumbError: the RFC 9457 problem (typed by its `type`), or, when no answer came, `status` 0
 *   and the platform's error as `cause`;
 * - every resource it returns keeps its `ETag` (`etagOf(resource)`), and updates and deletes take `{ ifMatch }`: the
 *   change applies only to the version read, or fails with 412 `precondition-failed`.
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
/** Every problem type the service answers with (the document's enum): switch on it, the compiler knows them all. */
export type ProblemType = Problem['type'];
/**
 * What the SDK reports when the answer was not one of the service's problems (a proxy's error page, an empty 502), or
 * when no answer came at all (`status` 0: see the error's `cause`): RFC 9457's `about:blank`.
 */
export interface ForeignProblem {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
}
export type Job = components['schemas']['Job'];
export type Token = components['schemas']['Token'];
export type TokenCreate = components['schemas']['TokenCreate'];
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
/** What a mutation resolves with: the resource and the job that made it (a topology also with the plan it ran). */
export type HostWithJob = components['schemas']['HostWithJob'];
export type BridgeWithJob = components['schemas']['BridgeWithJob'];
export type TunnelWithJob = components['schemas']['TunnelWithJob'];
export type AttachmentWithJob = components['schemas']['AttachmentWithJob'];
export type TopologyWithJob = components['schemas']['TopologyWithJob'];
/** A topology document as sent (PUT /topologies/{name}, POST …/plan): fields the service defaults may be left out. */
export type TopologyDocumentInput = NonNullable<paths['/topologies/{name}']['put']['requestBody']>['content']['application/json'];
/** The formats a graph is drawn in: `svg` (default), `mermaid`, `dot`. */
export type GraphFormat = NonNullable<NonNullable<paths['/graph']['get']['parameters']['query']>['format']>;

const PROBLEM_BASE = 'https://netplumb.dev/problems/';

export class NetplumbError extends Error {
  /** The HTTP status; 0 when no answer came (the service could not be reached: see `cause`). */
  readonly status: number;
  readonly problem: Problem | ForeignProblem;
  /** The job, when this error is a job that failed (or was interrupted) while the SDK waited for it. */
  readonly job: Job | undefined;
  constructor(status: number, problem: Problem | ForeignProblem, options: { cause?: unknown; job?: Job } = {}) {
    super(`${problem.title}${status ? ` (${status})` : ''}: ${problem.detail}`, 'cause' in options ? { cause: options.cause } : {});
    this.name = 'NetplumbError';
    this.status = status;
    this.problem = problem;
    this.job = options.job;
  }
  /** The error an answer means: its problem, or (a proxy's page, an empty body) an `about:blank` one with its status. */
  static fromResponse(res: Response, body: unknown): NetplumbError {
    return problemOf(res, body);
  }
  get type(): ProblemType | 'about:blank' {
    return this.problem.type;
  }
  /** A job the problem is about: the one that failed (`jobFailed`), or the one a busy resource or a key waits for. */
  get jobId(): string | undefined {
    return this.problem.type === 'about:blank' ? undefined : this.problem.jobId;
  }
  /** The request ran as a job and the job failed (or was interrupted): its problem is this one. */
  get jobFailed(): boolean {
    return this.job !== undefined || (this.problem.type !== 'about:blank' && this.problem.jobStatus !== undefined);
  }
  /** Seconds after which trying again can help (the problem's `retryAfter`, sent as `Retry-After` too). */
  get retryAfter(): number | undefined {
    return this.problem.type === 'about:blank' ? undefined : this.problem.retryAfter;
  }
  /** No answer came: connection refused, a name that does not resolve, a connection reset (`cause` says which). */
  get transport(): boolean {
    return this.status === 0;
  }
}

/** Every option also takes `undefined` (as "not given"), so `token: process.env.NETPLUMB_TOKEN` type-checks. */
export interface ClientOptions {
  baseUrl: string;
  token?: string | undefined;
  /**
   * How many times a request is tried again (default 3; 0: never): after a network error (a mutation keeps its
   * Idempotency-Key, so its work runs once), and after a 429 or 503 answer, as long as its `Retry-After` is at most
   * `maxRetryAfterSeconds` (without one: 0.2 s, doubling).
   */
  retries?: number | undefined;
  /** The longest `Retry-After` the client waits for before trying again (default 30); a longer one is returned as is. */
  maxRetryAfterSeconds?: number | undefined;
  /** Prefer: wait=N seconds for mutations (the server's default is 30). */
  waitSeconds?: number | undefined;
  fetch?: typeof fetch | undefined;
}

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Answers that say "not now": too many requests (a proxy's), the service unavailable (its store). */
const TRY_AGAIN = new Set([429, 503]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backoff = (attempt: number) => 200 * 2 ** attempt;

/** `Retry-After` in milliseconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A problem of the service's (an answer's body): the fields RFC 9457 requires, and a type of netplumb's. */
function isProblem(x: unknown): x is Problem {
  return (
    isRecord(x) &&
    typeof x['type'] === 'string' &&
    x['type'].startsWith(PROBLEM_BASE) &&
    typeof x['title'] === 'string' &&
    typeof x['status'] === 'number' &&
    typeof x['detail'] === 'string'
  );
}

function isAbort(e: unknown): boolean {
  return isRecord(e) && (e['name'] === 'AbortError' || e['name'] === 'TimeoutError');
}

/** Why no answer came, as short as the platform says it (ECONNREFUSED, ENOTFOUND, …). */
function transportReason(e: unknown): string {
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 4; c = isRecord(c) ? c['cause'] : undefined, depth++) {
    if (isRecord(c) && typeof c['code'] === 'string') return c['code'];
  }
  return e instanceof Error ? e.message : String(e);
}

function transportError(baseUrl: string, req: Request, e: unknown): NetplumbError {
  const detail = `${req.method} ${new URL(req.url).pathname}: no answer from ${baseUrl} (${transportReason(e)})`;
  return new NetplumbError(0, { type: 'about:blank', title: 'Service unreachable', status: 0, detail }, { cause: e });
}

/**
 * fetch with an Idempotency-Key on every mutation and bounded retries that keep it: after a network error, and after
 * a 429 or 503 once its Retry-After has passed. If the first attempt did reach the service and its job is still
 * running, the service says 409 "in progress": wait for that job, then ask again and get the stored response. When no
 * answer comes at all, the error is a NetplumbError (status 0) with the platform's error as `cause`.
 */
function retryingFetch(base: typeof fetch, o: { baseUrl: string; retries: number; maxRetryAfterMs: number }): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    const mutation = MUTATIONS.has(req.method);
    if (mutation && !req.headers.has('idempotency-key')) req.headers.set('idempotency-key', crypto.randomUUID());
    const body = req.body ? await req.arrayBuffer() : undefined;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await base(new Request(req, body !== undefined ? { body } : {}));
      } catch (e) {
        if (isAbort(e)) throw e;
        if (attempt >= o.retries) throw transportError(o.baseUrl, req, e);
        await sleep(backoff(attempt));
        continue;
      }
      if (mutation && attempt > 0 && attempt <= o.retries + 3 && res.status === 409) {
        const p: unknown = await res
          .clone()
          .json()
          .catch(() => null);
        if (isProblem(p) && p.type === `${PROBLEM_BASE}idempotency-in-progress` && p.jobId) {
          await settle(base, o.baseUrl, req.headers, p.jobId);
          continue;
        }
      }
      if (TRY_AGAIN.has(res.status) && attempt < o.retries) {
        const wait = retryAfterMs(res.headers.get('retry-after')) ?? backoff(attempt);
        if (wait <= o.maxRetryAfterMs) {
          await res.body?.cancel();
          await sleep(wait);
          continue;
        }
      }
      return res;
    }
  };
}

/** Waits until a job is no longer queued or running (its outcome is then stored for the key). */
async function settle(base: typeof fetch, baseUrl: string, headers: Headers, jobId: string): Promise<void> {
  const auth = headers.get('authorization');
  for (let delay = 100; ; delay = Math.min(delay * 1.5, 2000)) {
    const res = await base(`${baseUrl}/jobs/${encodeURIComponent(jobId)}`, { headers: auth ? { Authorization: auth } : {} });
    if (!res.ok) return;
    const job: unknown = await res.json();
    if (!isRecord(job) || (job['status'] !== 'queued' && job['status'] !== 'running')) return;
    await sleep(delay);
  }
}

/** The data of a successful openapi-fetch call, or its problem thrown as a NetplumbError. */
function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || r.data === undefined) throw problemOf(r.response, r.error);
  return remember(r.data, r.response);
}

/** The answer's problem, or (a proxy's page, an empty body) an `about:blank` one with its status. */
function problemOf(res: Response, body: unknown): NetplumbError {
  if (isProblem(body)) return new NetplumbError(res.status, body);
  const detail = typeof body === 'string' ? body.slice(0, 500) : '';
  return new NetplumbError(res.status, { type: 'about:blank', title: res.statusText || `HTTP ${res.status}`, status: res.status, detail });
}

/**
 * The ETag each resource the client returned came with (a GET or a mutation's answer), kept beside the object rather
 * than in it, so the object stays exactly the service's JSON.
 */
const etags = new WeakMap<object, string>();

function remember<T>(value: T, res: Response): T {
  const etag = res.headers.get('etag');
  if (etag && typeof value === 'object' && value !== null) etags.set(value, etag);
  return value;
}

/**
 * The `ETag` a resource or topology came with from this SDK (`get`, `list` items excepted, or a mutation's answer):
 * pass it as `ifMatch` so a change applies only to the version you read (otherwise a 412 `precondition-failed`).
 */
export function etagOf(resource: object): string | undefined {
  return etags.get(resource);
}

/** Conditional request options: `ifMatch` (an ETag, or `*`), and for a topology's PUT `ifNoneMatch: '*'` (create only). */
export interface Conditions {
  ifMatch?: string | undefined;
}

const conditionHeaders = (o: { ifMatch?: string | undefined; ifNoneMatch?: '*' | undefined }): Record<string, string> => ({
  ...(o.ifMatch !== undefined ? { 'If-Match': o.ifMatch } : {}),
  ...(o.ifNoneMatch !== undefined ? { 'If-None-Match': o.ifNoneMatch } : {}),
});

function isAccepted(x: unknown): x is components['schemas']['Accepted'] {
  return isRecord(x) && isRecord(x['job']) && typeof x['job']['id'] === 'string' && !('id' in x);
}

export function createClient(opts: ClientOptions) {
  const baseFetch = opts.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = {
    ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    ...(opts.waitSeconds !== undefined ? { Prefer: `wait=${opts.waitSeconds}` } : {}),
  };
  const fetchWithRetries = retryingFetch(baseFetch, {
    baseUrl: opts.baseUrl,
    retries: Math.max(0, opts.retries ?? 3),
    maxRetryAfterMs: (opts.maxRetryAfterSeconds ?? 30) * 1000,
  });
  const api = createFetchClient<paths>({ baseUrl: opts.baseUrl, headers, fetch: fetchWithRetries });

  async function getJob(id: string): Promise<Job> {
    return unwrap(await api.GET('/jobs/{id}', { params: { path: { id } } }));
  }

  /** Polls until the job is done; resolves with it (succeeded) or throws its problem (`jobFailed`, `job`). */
  async function waitForJob(id: string, o: { timeoutMs?: number | undefined; intervalMs?: number | undefined } = {}): Promise<Job> {
    const deadline = Date.now() + (o.timeoutMs ?? 600_000);
    let interval = o.intervalMs ?? 100;
    for (;;) {
      const job = await getJob(id);
      if (job.status === 'succeeded') return job;
      if (job.status === 'failed' || job.status === 'interrupted') {
        const problem: Problem | ForeignProblem = job.error
          ? { ...job.error, jobId: job.id, jobStatus: job.status }
          : { type: 'about:blank', title: 'Job failed', status: 500, detail: `job ${job.id} ${job.status}` };
        throw new NetplumbError(problem.status, problem, { job });
      }
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after the timeout`);
      await sleep(interval);
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
      const res = await fetchWithRetries(`${opts.baseUrl}/jobs/${encodeURIComponent(id)}/logs`, {
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

  /**
   * Runs a mutation to its end and resolves with what the operation answers when done (`T`: its 200/201 body, or
   * undefined for a 204). A 202 (the job outlived `Prefer: wait`) is followed: the job is waited for (its failure
   * thrown), then the same request goes again with the same Idempotency-Key and the service answers what the job
   * ended with (the resource, its job, a topology's plan), as it would have without the 202.
   */
  async function mutate<T>(
    call: (headers: Record<string, string>) => Promise<{ data?: unknown; error?: unknown; response: Response }>,
    conditions: { ifMatch?: string | undefined; ifNoneMatch?: '*' | undefined } = {},
  ): Promise<T> {
    const key = { 'Idempotency-Key': crypto.randomUUID(), ...conditionHeaders(conditions) };
    let answer = await call(key);
    for (let round = 0; ; round++) {
      const { data, error, response } = answer;
      if (
        round > 0 &&
        response.status === 409 &&
        isProblem(error) &&
        error.type === `${PROBLEM_BASE}idempotency-in-progress` &&
        round < 20
      ) {
        // The job is done, its answer is being stored: ask again in a moment.
        await sleep(50 * round);
        answer = await call(key);
        continue;
      }
      if (error !== undefined || !response.ok) throw problemOf(response, error);
      if (response.status !== 202) {
        // openapi-fetch types `data` as any 2xx body of the operation; a non-202 success is the operation's T.
        return remember(data, response) as T;
      }
      if (!isAccepted(data)) throw problemOf(response, data);
      await waitForJob(data.job.id);
      answer = await call(key);
    }
  }

  const hosts = {
    create: (body: HostCreate) => mutate<HostWithJob>((h) => api.POST('/hosts', { body, headers: h })),
    list: async (query: NonNullable<paths['/hosts']['get']['parameters']['query']> = {}): Promise<components['schemas']['HostList']> => {
      return unwrap(await api.GET('/hosts', { params: { query } }));
    },
    get: async (idOrName: string): Promise<Host> => {
      return unwrap(await api.GET('/hosts/{idOrName}', { params: { path: { idOrName } } }));
    },
    probe: (idOrName: string) =>
      mutate<HostWithJob>((h) => api.POST('/hosts/{idOrName}/probe', { params: { path: { idOrName } }, headers: h })),
    delete: (idOrName: string, o: Conditions = {}) =>
      mutate<void>((h) => api.DELETE('/hosts/{idOrName}', { params: { path: { idOrName } }, headers: h }), o),
    /** Everything the service owns on the host, repaired in one job (bridges, then tunnels, then attachments). */
    repair: (idOrName: string) =>
      mutate<components['schemas']['HostRepaired']>((h) =>
        api.POST('/hosts/{idOrName}/repair', { params: { path: { idOrName } }, headers: h }),
      ),
    /** Objects on the host marked by netplumb whose record does not exist. */
    orphans: async (idOrName: string): Promise<components['schemas']['Orphans']> => {
      return unwrap(await api.GET('/hosts/{idOrName}/orphans', { params: { path: { idOrName } } }));
    },
    removeOrphans: (idOrName: string) =>
      mutate<components['schemas']['OrphansRemoved']>((h) =>
        api.DELETE('/hosts/{idOrName}/orphans', { params: { path: { idOrName } }, headers: h }),
      ),
  };

  const bridges = {
    create: (body: BridgeCreate) => mutate<BridgeWithJob>((h) => api.POST('/bridges', { body, headers: h })),
    list: async (
      query: NonNullable<paths['/bridges']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['BridgeList']> => {
      return unwrap(await api.GET('/bridges', { params: { query } }));
    },
    /** By id, or by "host/name". */
    get: async (ref: string, o: { observe?: boolean | undefined } = {}): Promise<Bridge> => {
      const query = { observe: o.observe ? ('true' as const) : ('false' as const) };
      const slash = ref.indexOf('/');
      return unwrap(
        slash > 0
          ? await api.GET('/bridges/{host}/{name}', { params: { path: { host: ref.slice(0, slash), name: ref.slice(slash + 1) }, query } })
          : await api.GET('/bridges/{id}', { params: { path: { id: ref }, query } }),
      );
    },
    /** `ifMatch`: only if the bridge is still at that ETag (`etagOf(bridge)`); otherwise a 412 and nothing changes. */
    update: (id: string, body: BridgePatch, o: Conditions = {}) =>
      mutate<BridgeWithJob>((h) => api.PATCH('/bridges/{id}', { params: { path: { id } }, body, headers: h }), o),
    delete: (id: string, o: { cascade?: boolean | undefined } & Conditions = {}) =>
      mutate<void>(
        (h) => api.DELETE('/bridges/{id}', { params: { path: { id }, query: { cascade: o.cascade ? 'true' : 'false' } }, headers: h }),
        o,
      ),
    /** The bridge (re-created if it was deleted by hand), then the tunnel ends and attachments on it. */
    repair: (id: string) =>
      mutate<components['schemas']['BridgeRepaired']>((h) => api.POST('/bridges/{id}/repair', { params: { path: { id } }, headers: h })),
  };

  const attachments = {
    create: (body: AttachmentCreate) => mutate<AttachmentWithJob>((h) => api.POST('/attachments', { body, headers: h })),
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
    update: (id: string, body: AttachmentPatch, o: Conditions = {}) =>
      mutate<AttachmentWithJob>((h) => api.PATCH('/attachments/{id}', { params: { path: { id } }, body, headers: h }), o),
    delete: (id: string, o: Conditions = {}) =>
      mutate<void>((h) => api.DELETE('/attachments/{id}', { params: { path: { id } }, headers: h }), o),
    /** Re-attach (same names, addresses, MAC) in the target's current namespace, or reset what differs. */
    repair: (id: string) =>
      mutate<components['schemas']['AttachmentRepaired']>((h) =>
        api.POST('/attachments/{id}/repair', { params: { path: { id } }, headers: h }),
      ),
  };

  const tunnels = {
    create: (body: TunnelCreate) => mutate<TunnelWithJob>((h) => api.POST('/tunnels', { body, headers: h })),
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
    update: (id: string, body: TunnelPatch, o: Conditions = {}) =>
      mutate<TunnelWithJob>((h) => api.PATCH('/tunnels/{id}', { params: { path: { id } }, body, headers: h }), o),
    delete: (id: string, o: Conditions = {}) =>
      mutate<void>((h) => api.DELETE('/tunnels/{id}', { params: { path: { id } }, headers: h }), o),
    repair: (id: string) =>
      mutate<components['schemas']['TunnelRepaired']>((h) => api.POST('/tunnels/{id}/repair', { params: { path: { id } }, headers: h })),
  };

  /** A picture as text (SVG, Mermaid, DOT): `format`, or by default SVG. */
  const graphQuery = (o: { format?: GraphFormat | undefined; observe?: boolean | undefined }) => ({
    ...(o.format ? { format: o.format } : {}),
    observe: o.observe ? ('true' as const) : ('false' as const),
  });

  const topologies = {
    /**
     * Creates or converges a topology from its document (an object; YAML text goes through `api.PUT` with
     * `Content-Type: application/yaml`). Resolves when the job is done, with the topology, its job and the plan it ran.
     * `ifMatch`: only onto the version read (`etagOf(topology)`); `ifNoneMatch: '*'`: only if no topology has the name.
     */
    apply: (name: string, document: TopologyDocumentInput, o: Conditions & { ifNoneMatch?: '*' | undefined } = {}) =>
      mutate<TopologyWithJob>(
        (h) => api.PUT('/topologies/{name}', { params: { path: { name }, query: { dryRun: 'false' } }, body: document, headers: h }),
        o,
      ),
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
    delete: (name: string, o: Conditions = {}) =>
      mutate<void>((h) => api.DELETE('/topologies/{name}', { params: { path: { name } }, headers: h }), o),
    /** Everything it owns, repaired as its document says. */
    repair: (name: string) =>
      mutate<components['schemas']['TopologyRepaired']>((h) =>
        api.POST('/topologies/{name}/repair', { params: { path: { name } }, headers: h }),
      ),
    /** The topology as a picture, as text: SVG (default), Mermaid (for Markdown) or DOT. */
    graph: async (name: string, o: { format?: GraphFormat | undefined; observe?: boolean | undefined } = {}): Promise<string> => {
      return unwrap(await api.GET('/topologies/{name}/graph', { params: { path: { name }, query: graphQuery(o) }, parseAs: 'text' }));
    },
  };

  const graph = {
    /** Every host, bridge, attachment and tunnel as a picture, as text: SVG (default), Mermaid or DOT. */
    get: async (o: { format?: GraphFormat | undefined; observe?: boolean | undefined } = {}): Promise<string> => {
      return unwrap(await api.GET('/graph', { params: { query: graphQuery(o) }, parseAs: 'text' }));
    },
  };

  const jobs = {
    get: getJob,
    list: async (query: NonNullable<paths['/jobs']['get']['parameters']['query']> = {}): Promise<components['schemas']['JobList']> => {
      return unwrap(await api.GET('/jobs', { params: { query } }));
    },
    /** A page of the log: follow `nextCursor` as `cursor`; or `after` a line's `seq` you have. */
    logs: async (
      id: string,
      query: NonNullable<paths['/jobs/{id}/logs']['get']['parameters']['query']> = {},
    ): Promise<components['schemas']['JobLogPage']> => {
      const { data, error, response } = await api.GET('/jobs/{id}/logs', {
        params: { path: { id }, query },
        headers: { Accept: 'application/json' },
      });
      if (error !== undefined || data === undefined || typeof data === 'string') throw problemOf(response, error);
      return data;
    },
  };

  const tokens = {
    /** A scoped API token; the answer's `token` is the secret, shown this once. */
    create: async (body: TokenCreate): Promise<components['schemas']['TokenCreated']> => {
      return unwrap(await api.POST('/tokens', { body }));
    },
    list: async (query: NonNullable<paths['/tokens']['get']['parameters']['query']> = {}): Promise<components['schemas']['TokenList']> => {
      return unwrap(await api.GET('/tokens', { params: { query } }));
    },
    get: async (id: string): Promise<Token> => {
      return unwrap(await api.GET('/tokens/{id}', { params: { path: { id } } }));
    },
    /** Refused at once, by every replica. */
    revoke: async (id: string): Promise<void> => {
      const { error, response } = await api.DELETE('/tokens/{id}', { params: { path: { id } } });
      if (error !== undefined || !response.ok) throw problemOf(response, error);
    },
  };

  const audit = {
    /** The append-only audit log (admin): token and host changes, refused requests. */
    list: async (query: NonNullable<paths['/audit']['get']['parameters']['query']> = {}): Promise<components['schemas']['AuditPage']> => {
      return unwrap(await api.GET('/audit', { params: { query } }));
    },
  };

  return { api, hosts, bridges, attachments, tunnels, topologies, graph, jobs, tokens, audit, waitForJob, streamJobLogs, mutate, etagOf };
}

export type NetplumbClient = ReturnType<typeof createClient>;
