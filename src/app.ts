/** createApp(deps): the whole API as a fetch handler. No listening, no globals. */
import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { bearerAuth } from './api/auth.js';
import { router, type Env } from './api/common.js';
import { mountDocs } from './api/docs.js';
import { hosts } from './api/hosts/index.js';
import { jobs } from './api/jobs/index.js';
import { bridges } from './api/bridges/index.js';
import { tunnels } from './api/tunnels/index.js';
import { attachments } from './api/attachments/index.js';
import { topologies } from './api/topologies/index.js';
import { graph } from './api/graph/index.js';
import { mountUi } from './api/ui.js';
import { app as repairs } from './api/repair/routes.js';
import { problemResponse } from './api/problems.js';
import { originGuard } from './api/origin-guard.js';
import { redactProblems } from './api/redaction.js';
import { storageProblemResponse } from './api/storage.js';
import { health } from './api/health.js';
import { allowedMethods, negotiateMedia } from './api/negotiation.js';
import { isStorageFault } from './store/faults.js';
import type { AppDeps } from './deps.js';
import { isProblemError, problem, ProblemError } from './model/problems.js';
import { ExecError } from './exec/errors.js';
import { toProblem } from './jobs/runner.js';
import { metrics } from './api/metrics/index.js';
import { tokens } from './api/tokens/index.js';
import { auditLog } from './api/audit/index.js';
import { authorize } from './api/scopes.js';
import { rateLimit } from './api/rate-limit.js';
import { OidcVerifier } from './api/oidc.js';
import { telemetry } from './api/telemetry.js';
import { VERSION } from './version.js';

/** The API's version is the package's: the service and its SDK are released together (CHANGELOG.md). */
export const API_VERSION = VERSION;

/** Every resource route; also what the OpenAPI document is generated from. */
export function apiRoutes(): OpenAPIHono<Env> {
  const api = router()
    .route('/', health)
    .route('/', hosts)
    .route('/', bridges)
    .route('/', tunnels)
    .route('/', attachments)
    .route('/', topologies)
    .route('/', graph)
    .route('/', repairs)
    .route('/', jobs)
    .route('/', tokens)
    .route('/', auditLog)
    .route('/', metrics);
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (`np_…`, from `POST /tokens`), a CI identity token (OIDC: GitHub Actions, GitLab; issuers trusted in NETPLUMB_OIDC), or the bootstrap token NETPLUMB_TOKEN. ' +
      "Each operation's `security` names the scope it needs (`read`, `write`, `hosts`, `admin`; `write` and `hosts` include `read`, `admin` includes all): " +
      'without it the answer is 403 `forbidden` naming the missing scope (docs/security.md#tokens-and-scopes).',
  });
  return api;
}

/** Every operation takes a W3C `traceparent` and answers with its trace (src/api/telemetry.ts): declared once, here. */
const TRACE_PARAMETER = {
  name: 'traceparent',
  in: 'header',
  required: false,
  description:
    "W3C Trace Context: the caller's trace. The request, its job and the job's batches become spans of this trace (a new trace when absent or malformed).",
  schema: { type: 'string', maxLength: 55, pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
  example: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
} as const;
/**
 * CORS is off unless NETPLUMB_CORS_ORIGINS lists browser front ends; then an answer to one of them names it here.
 * Declared on every answer (optional), so a client generated from the document can read it.
 */
const CORS_HEADER = {
  'Access-Control-Allow-Origin': {
    description: 'Present only when the request came from an origin in NETPLUMB_CORS_ORIGINS: that origin (CORS is off by default)',
    schema: { type: 'string', maxLength: 200, pattern: '^https?://[^/]+$' },
    example: 'https://ui.lab:8443',
  },
} as const;

const TRACE_HEADERS = {
  traceparent: {
    description: "W3C Trace Context of this request's span (its trace id is the caller's, or a new one)",
    schema: { type: 'string' },
    example: '00-4bf92f3577b34da6a3ce929d0e0e4736-a3ce929d0e0e4736-01',
  },
  'X-Trace-Id': {
    description: "The trace id alone: find the request's job (`traceId`) and its service log lines by it",
    schema: { type: 'string' },
    example: '4bf92f3577b34da6a3ce929d0e0e4736',
  },
} as const;

type Doc = ReturnType<OpenAPIHono<Env>['getOpenAPI31Document']>;

function withTraceHeaders(doc: Doc): Doc {
  doc.components = {
    ...doc.components,
    parameters: { ...doc.components?.parameters, traceparent: TRACE_PARAMETER },
    headers: { ...doc.components?.headers, ...TRACE_HEADERS, ...CORS_HEADER },
  };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const op = item?.[method];
      if (!op) continue;
      op.parameters = [...(op.parameters ?? []), { $ref: '#/components/parameters/traceparent' }];
      for (const res of Object.values(op.responses ?? {}) as ({ $ref: string } | { headers?: Record<string, unknown> })[]) {
        if ('$ref' in res) continue;
        res.headers = {
          ...res.headers,
          traceparent: { $ref: '#/components/headers/traceparent' },
          'X-Trace-Id': { $ref: '#/components/headers/X-Trace-Id' },
          'Access-Control-Allow-Origin': { $ref: '#/components/headers/Access-Control-Allow-Origin' },
        };
      }
    }
  }
  return doc;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/**
 * Every integer says its width (OpenAPI `format`), from its own bounds: int32 when they fit, int64 otherwise. The
 * bounds are the schemas' (zod's min/max); this only names the width they imply, so a generator picks the type.
 */
function withIntegerFormats<T>(node: T): T {
  if (Array.isArray(node)) node.forEach(withIntegerFormats);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const isInteger = o.type === 'integer' || (Array.isArray(o.type) && o.type.includes('integer'));
    if (isInteger && o.format === undefined) {
      const fits = typeof o.minimum === 'number' && typeof o.maximum === 'number' && o.minimum >= INT32.min && o.maximum <= INT32.max;
      o.format = fits ? 'int32' : 'int64';
    }
    Object.values(o).forEach(withIntegerFormats);
  }
  return node;
}

export function openapiDocument(api: OpenAPIHono<Env> = apiRoutes()) {
  return withIntegerFormats(withTraceHeaders(openapiBase(api)));
}

function openapiBase(api: OpenAPIHono<Env>) {
  return api.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'netplumb',
      version: API_VERSION,
      description:
        'Plumbs container networks across Docker hosts: Open vSwitch and Linux bridges, containers attached with veth pairs, ' +
        'GRE/VXLAN/Geneve tunnels between hosts. Mutations run as jobs: by default a request waits for its job (`Prefer: wait=N`, ' +
        'default 30 s); `Prefer: respond-async` answers 202 with the job at once. Every mutation takes an `Idempotency-Key`. ' +
        'Errors are RFC 9457 problem details. Without a token the service answers only for its loopback `Host` names ' +
        '(421 `misdirected-request` otherwise); state changes sent by web pages on other origins are 403 `forbidden-origin`; ' +
        'while the store cannot write, changes answer 503 `storage-unavailable` with `Retry-After`.',
    },
    // Relative: the document is served by the service itself, wherever it listens.
    // `x-internal: false`: the API is the product (not an internal one); each installation serves its own copy.
    servers: [{ url: '/', description: 'this service, wherever it runs (local, test, staging or production)', 'x-internal': false }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'hosts', description: 'Docker hosts netplumb acts on (local or over SSH)' },
      { name: 'bridges', description: 'OVS and Linux bridges netplumb owns on a host' },
      { name: 'tunnels', description: 'GRE, VXLAN and Geneve tunnels joining bridges on two hosts' },
      { name: 'attachments', description: 'Containers, namespaces or pids on bridges through veth pairs' },
      { name: 'topologies', description: 'Whole container networks as one declarative document: planned, applied, torn down' },
      { name: 'jobs', description: 'Every mutation is a job with a log' },
      { name: 'tokens', description: 'API tokens: scoped, restricted, revocable (admin)' },
      { name: 'audit', description: 'The append-only audit log (admin)' },
      { name: 'graph', description: 'The network as a picture: SVG, Mermaid, DOT (the page at `/ui` draws the same)' },
      { name: 'service', description: 'The service itself: Prometheus metrics (docs/observability.md)' },
    ],
  });
}

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<Env>();
  const api = apiRoutes();
  // Built on the first request for it, not at start-up (it costs start-up time and memory few processes need).
  let doc: ReturnType<typeof openapiDocument> | undefined;

  app.onError((err, c) => {
    if (isProblemError(err)) return problemResponse(c, err.problem);
    if (isStorageFault(err)) return storageProblemResponse(c, err, deps.storage.health().retryAfterS);
    if (err instanceof ExecError) {
      // Outside a job (e.g. ?observe=true): the same problem, without a job id.
      const { jobId: _none, ...p } = toProblem(err, '');
      return problemResponse(c, { ...p, type: p.type, title: p.title, status: p.status, detail: p.detail });
    }
    if (err instanceof HTTPException) {
      if (err.status === 400) return problemResponse(c, problem('malformed-json', err.message || 'the body is not valid JSON'));
      if (err.status === 413)
        return problemResponse(c, problem('payload-too-large', `bodies are limited to ${deps.config.maxBodyBytes} bytes`));
      if (err.status === 415) return problemResponse(c, problem('unsupported-media-type', 'send the body as application/json'));
      return problemResponse(c, { ...problem('bad-request', err.message), status: err.status });
    }
    deps.obs.logger.error({ err }, 'unhandled error');
    return problemResponse(c, problem('internal', 'an unexpected error occurred'));
  });
  // A path the app has under other methods is 405 with what it takes (Allow); a path it does not have at all, 404.
  const allowed = allowedMethods(app);
  app.notFound((c) => {
    const allow = allowed(c.req.path);
    if (allow.length && !allow.includes(c.req.method))
      return problemResponse(c, problem('method-not-allowed', `${c.req.method} is not allowed on ${c.req.path}`, { allowed: allow }), {
        Allow: allow.join(', '),
      });
    return problemResponse(c, problem('not-found', `no route for ${c.req.method} ${c.req.path}`));
  });

  app.use('*', telemetry(deps.obs));
  app.use('*', redactProblems(deps.runner.redactor));
  app.use('*', originGuard(deps.config));
  // CORS: none unless NETPLUMB_CORS_ORIGINS lists the browser front ends (answers their preflights, before auth).
  if (deps.config.corsOrigins?.length) {
    app.use(
      '*',
      cors({
        origin: [...deps.config.corsOrigins],
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Prefer', 'Last-Event-ID', 'traceparent', 'X-Request-Id'],
        exposeHeaders: [
          'Location',
          'Idempotency-Replayed',
          'Preference-Applied',
          'Retry-After',
          'traceparent',
          'X-Trace-Id',
          'X-Request-Id',
        ],
        maxAge: 600,
      }),
    );
  }
  app.get('/openapi.json', (c) => c.json((doc ??= openapiDocument(api))));
  mountDocs(app);
  mountUi(app, { tokenRequired: !!deps.config.token });

  app.use('*', async (c, next) => {
    c.set('deps', deps);
    await next();
  });
  const oidc = new OidcVerifier(deps.config.oidc ?? []);
  app.use('*', bearerAuth(deps.config.token, { metricsToken: deps.config.metricsToken, oidc }));
  // Counted before the scope check, so refused requests use up the bucket too.
  app.use('*', rateLimit(deps.config.rateLimit));
  app.use('*', authorize(api));
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.maxBodyBytes,
      onError: (c) => problemResponse(c, problem('payload-too-large', `bodies are limited to ${deps.config.maxBodyBytes} bytes`)),
    }),
  );
  app.use('*', async (c, next) => {
    // Draining (SIGTERM): reads are answered, new work is not; a client or load balancer tries another replica.
    if (deps.lifecycle.draining && !SAFE_METHODS.has(c.req.method))
      throw new ProblemError(
        'shutting-down',
        'this replica is shutting down and takes no new work; send it to another replica, or again once it is back',
      );
    await next();
  });
  // 406 when Accept admits none of what the operation answers with (from the same route definitions as the document).
  app.use('*', negotiateMedia(api));
  app.route('/', api);
  return app;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type App = ReturnType<typeof createApp>;
