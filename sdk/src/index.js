/**
 * netplumb SDK: typed paths from the OpenAPI spec (schema.d.ts, generated) and a small client on openapi-fetch.
 * - every mutation gets an Idempotency-Key, kept across the client's own retries (network errors, 503);
 * - a 202 (job still running) is followed to the end, so create/delete resolve when the work is done;
 * - a failure throws NetplumbError carrying the RFC 9457 problem.
 */
import createFetchClient from 'openapi-fetch';
export class NetplumbError extends Error {
    status;
    problem;
    constructor(status, problem) {
        super(`${problem.title} (${status}): ${problem.detail}`);
        this.name = 'NetplumbError';
        this.status = status;
        this.problem = problem;
    }
    get type() {
        return this.problem.type;
    }
    get jobId() {
        return this.problem.jobId;
    }
}
const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isProblem = (res) => !!res.headers.get('content-type')?.includes('problem+json');
/**
 * fetch with an Idempotency-Key on every mutation, and retries that keep it: after a network error (or a 503
 * that is not the service's own problem answer) the same request goes again. If the first attempt did reach
 * the service and its job is still running, the service says 409 "in progress": wait for that job, then ask
 * again and get the stored response.
 */
function idempotentFetch(base, baseUrl, retries) {
    return async (input, init) => {
        const req = new Request(input, init);
        if (!MUTATIONS.has(req.method) || retries <= 0)
            return base(req);
        if (!req.headers.has('idempotency-key'))
            req.headers.set('idempotency-key', crypto.randomUUID());
        const body = req.body ? await req.arrayBuffer() : undefined;
        for (let attempt = 0;; attempt++) {
            let res;
            try {
                res = await base(new Request(req, body !== undefined ? { body } : {}));
            }
            catch (e) {
                if (attempt >= retries)
                    throw e;
            }
            if (res) {
                if (attempt > 0 && res.status === 409 && isProblem(res)) {
                    const p = (await res
                        .clone()
                        .json()
                        .catch(() => null));
                    if (p?.type.endsWith('/idempotency-in-progress') && p.jobId) {
                        await settle(base, baseUrl, req.headers, p.jobId);
                        continue;
                    }
                }
                if (res.status !== 503 || isProblem(res) || attempt >= retries)
                    return res;
            }
            await sleep(200 * 2 ** attempt);
        }
    };
}
/** Waits until a job is no longer queued or running (its outcome is then stored for the key). */
async function settle(base, baseUrl, headers, jobId) {
    const auth = headers.get('authorization');
    for (let delay = 100;; delay = Math.min(delay * 1.5, 2000)) {
        const res = await base(`${baseUrl}/jobs/${encodeURIComponent(jobId)}`, { headers: auth ? { Authorization: auth } : {} });
        if (!res.ok)
            return;
        const job = (await res.json());
        if (job.status !== 'queued' && job.status !== 'running')
            return;
        await sleep(delay);
    }
}
/** The data of a successful openapi-fetch call, or its problem thrown as a NetplumbError. */
function unwrap(r) {
    if (r.error !== undefined || r.data === undefined)
        throw problemOf(r.response, r.error);
    return r.data;
}
function problemOf(res, fallback) {
    const detail = typeof fallback === 'string' ? fallback : '';
    const p = (fallback && typeof fallback === 'object' ? fallback : { type: 'about:blank', title: res.statusText, status: res.status, detail });
    return new NetplumbError(res.status, p);
}
export function createClient(opts) {
    const baseFetch = opts.fetch ?? globalThis.fetch;
    const headers = {
        ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.waitSeconds !== undefined ? { Prefer: `wait=${opts.waitSeconds}` } : {}),
    };
    const api = createFetchClient({
        baseUrl: opts.baseUrl,
        headers,
        fetch: idempotentFetch(baseFetch, opts.baseUrl, opts.retries ?? 3),
    });
    async function getJob(id) {
        return unwrap(await api.GET('/jobs/{id}', { params: { path: { id } } }));
    }
    /** Polls until the job is done; resolves with it (succeeded) or throws its problem. */
    async function waitForJob(id, o = {}) {
        const deadline = Date.now() + (o.timeoutMs ?? 600_000);
        let interval = o.intervalMs ?? 100;
        for (;;) {
            const job = await getJob(id);
            if (job.status === 'succeeded')
                return job;
            if (job.status === 'failed' || job.status === 'interrupted') {
                throw new NetplumbError(job.error?.status ?? 500, job.error ?? { type: 'about:blank', title: 'Job failed', status: 500, detail: job.status });
            }
            if (Date.now() > deadline)
                throw new Error(`job ${id} still ${job.status} after the timeout`);
            await new Promise((r) => setTimeout(r, interval));
            interval = Math.min(interval * 1.5, 2000);
        }
    }
    /** Async iterator over a job's log, live (SSE), resuming with Last-Event-ID if the stream drops. */
    async function* streamJobLogs(id, o = {}) {
        let last = o.after ?? 0;
        for (let drops = 0;;) {
            const res = await baseFetch(`${opts.baseUrl}/jobs/${encodeURIComponent(id)}/logs`, {
                headers: { ...headers, Accept: 'text/event-stream', ...(last ? { 'Last-Event-ID': String(last) } : {}) },
                ...(o.signal ? { signal: o.signal } : {}),
            });
            if (!res.ok || !res.body)
                throw problemOf(res, await res.json().catch(() => null));
            const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
            let buf = '';
            try {
                for (;;) {
                    const { done, value } = await reader.read();
                    if (done)
                        break;
                    buf += value;
                    let i;
                    while ((i = buf.indexOf('\n\n')) >= 0) {
                        const raw = buf.slice(0, i);
                        buf = buf.slice(i + 2);
                        let event = 'message';
                        let data = '';
                        for (const line of raw.split('\n')) {
                            if (line.startsWith('event:'))
                                event = line.slice(6).trim();
                            else if (line.startsWith('data:'))
                                data += line.slice(5).trimStart();
                        }
                        if (event === 'log' && data) {
                            const l = JSON.parse(data);
                            last = l.seq;
                            yield l;
                        }
                        else if (event === 'end') {
                            return JSON.parse(data);
                        }
                    }
                }
            }
            finally {
                reader.releaseLock();
            }
            if (++drops > 5)
                throw new Error(`log stream of ${id} kept dropping`);
        }
    }
    /** Runs a mutation; follows a 202 to the job's end; returns the resource (or undefined for 204). */
    async function mutate(call, reread) {
        const { data, error, response } = await call();
        if (error !== undefined || !response.ok)
            throw problemOf(response, error);
        if (response.status === 202) {
            const job = await waitForJob(data.job.id);
            return (reread ? await reread(job.resource.id) : undefined);
        }
        return data;
    }
    const hosts = {
        create: (body) => mutate(() => api.POST('/hosts', { body }), (id) => hosts.get(id)),
        list: async (query = {}) => {
            return unwrap(await api.GET('/hosts', { params: { query } }));
        },
        get: async (idOrName) => {
            return unwrap(await api.GET('/hosts/{idOrName}', { params: { path: { idOrName } } }));
        },
        probe: (idOrName) => mutate(() => api.POST('/hosts/{idOrName}/probe', { params: { path: { idOrName } } }), (id) => hosts.get(id)),
        delete: (idOrName) => mutate(() => api.DELETE('/hosts/{idOrName}', { params: { path: { idOrName } } })),
    };
    const bridges = {
        create: (body) => mutate(() => api.POST('/bridges', { body }), (id) => bridges.get(id)),
        list: async (query = {}) => {
            return unwrap(await api.GET('/bridges', { params: { query } }));
        },
        /** By id, or by "host/name". */
        get: async (ref, o = {}) => {
            const query = { observe: o.observe ? 'true' : 'false' };
            const slash = ref.indexOf('/');
            const { data, error, response } = slash > 0
                ? await api.GET('/bridges/{host}/{name}', { params: { path: { host: ref.slice(0, slash), name: ref.slice(slash + 1) }, query } })
                : await api.GET('/bridges/{id}', { params: { path: { id: ref }, query } });
            if (error || !data)
                throw problemOf(response, error);
            return data;
        },
        update: (id, body) => mutate(() => api.PATCH('/bridges/{id}', { params: { path: { id } }, body }), (rid) => bridges.get(rid)),
        delete: (id, o = {}) => mutate(() => api.DELETE('/bridges/{id}', { params: { path: { id }, query: { cascade: o.cascade ? 'true' : 'false' } } })),
    };
    const attachments = {
        create: (body) => mutate(() => api.POST('/attachments', { body }), (id) => attachments.get(id)),
        list: async (query = {}) => {
            return unwrap(await api.GET('/attachments', { params: { query } }));
        },
        get: async (id) => {
            return unwrap(await api.GET('/attachments/{id}', { params: { path: { id } } }));
        },
        delete: (id) => mutate(() => api.DELETE('/attachments/{id}', { params: { path: { id } } })),
    };
    const tunnels = {
        create: (body) => mutate(() => api.POST('/tunnels', { body }), (id) => tunnels.get(id)),
        list: async (query = {}) => {
            return unwrap(await api.GET('/tunnels', { params: { query } }));
        },
        /** observe: also each end's live state from the hosts (OVS error/ofport/link_state, or the Linux device). */
        get: async (id, o = {}) => {
            const query = { observe: o.observe ? 'true' : 'false' };
            return unwrap(await api.GET('/tunnels/{id}', { params: { path: { id }, query } }));
        },
        delete: (id) => mutate(() => api.DELETE('/tunnels/{id}', { params: { path: { id } } })),
    };
    const topologies = {
        /**
         * Creates or converges a topology from its document (an object; YAML text goes through `api.PUT` with
         * `Content-Type: application/yaml`). Resolves when the job is done, with the topology and the plan it ran.
         */
        apply: (name, document) => mutate(() => api.PUT('/topologies/{name}', { params: { path: { name }, query: { dryRun: 'false' } }, body: document }), (id) => topologies.get(id)),
        /** What applying the document would change, per host, with the commands; nothing runs. */
        plan: async (name, document) => {
            return unwrap(await api.POST('/topologies/{name}/plan', { params: { path: { name } }, body: document }));
        },
        list: async (query = {}) => {
            return unwrap(await api.GET('/topologies', { params: { query } }));
        },
        /** observe: also the drift of everything it owns, from the hosts. */
        get: async (name, o = {}) => {
            const query = { observe: o.observe ? 'true' : 'false' };
            return unwrap(await api.GET('/topologies/{name}', { params: { path: { name }, query } }));
        },
        delete: (name) => mutate(() => api.DELETE('/topologies/{name}', { params: { path: { name } } })),
    };
    const jobs = {
        get: getJob,
        list: async (query = {}) => {
            return unwrap(await api.GET('/jobs', { params: { query } }));
        },
        logs: async (id, query = {}) => {
            const { data, error, response } = await api.GET('/jobs/{id}/logs', {
                params: { path: { id }, query },
                headers: { Accept: 'application/json' },
            });
            if (error || !data)
                throw problemOf(response, error);
            return data;
        },
    };
    return { api, hosts, bridges, attachments, tunnels, topologies, jobs, waitForJob, streamJobLogs, mutate };
}
//# sourceMappingURL=index.js.map