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
import { mountHealth, storageProblemResponse } from './api/storage.js';
import { isStorageFault } from './store/faults.js';
import type { AppDeps } from './deps.js';
import { isProblemError, problem } from './model/problems.js';
import { ExecError } from './exec/errors.js';
import { toProblem } from './jobs/runner.js';
import { VERSION } from './version.js';

/** The API's version is the package's: the service and its SDK are released together (CHANGELOG.md). */
export const API_VERSION = VERSION;

/** Every resource route; also what the OpenAPI document is generated from. */
export function apiRoutes(): OpenAPIHono<Env> {
  const api = router()
    .route('/', hosts)
    .route('/', bridges)
    .route('/', tunnels)
    .route('/', attachments)
    .route('/', topologies)
    .route('/', graph)
    .route('/', repairs)
    .route('/', jobs);
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', description: 'NETPLUMB_TOKEN' });
  return api;
}

export function openapiDocument(api: OpenAPIHono<Env> = apiRoutes()) {
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
    servers: [{ url: '/', description: 'this service' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'hosts', description: 'Docker hosts netplumb acts on (local or over SSH)' },
      { name: 'bridges', description: 'OVS and Linux bridges netplumb owns on a host' },
      { name: 'tunnels', description: 'GRE, VXLAN and Geneve tunnels joining bridges on two hosts' },
      { name: 'attachments', description: 'Containers, namespaces or pids on bridges through veth pairs' },
      { name: 'topologies', description: 'Whole container networks as one declarative document: planned, applied, torn down' },
      { name: 'jobs', description: 'Every mutation is a job with a log' },
      { name: 'graph', description: 'The network as a picture: SVG, Mermaid, DOT (the page at `/ui` draws the same)' },
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
    console.error('unhandled error', err);
    return problemResponse(c, problem('internal', 'an unexpected error occurred'));
  });
  app.notFound((c) => problemResponse(c, problem('not-found', `no route for ${c.req.method} ${c.req.path}`)));

  app.use('*', redactProblems(deps.runner.redactor));
  app.use('*', originGuard(deps.config));
  // CORS: none unless NETPLUMB_CORS_ORIGINS lists the browser front ends (answers their preflights, before auth).
  if (deps.config.corsOrigins?.length) {
    app.use(
      '*',
      cors({
        origin: [...deps.config.corsOrigins],
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Prefer', 'Last-Event-ID'],
        exposeHeaders: ['Location', 'Idempotency-Replayed', 'Preference-Applied', 'Retry-After'],
        maxAge: 600,
      }),
    );
  }
  mountHealth(app, deps, API_VERSION);
  app.get('/openapi.json', (c) => c.json((doc ??= openapiDocument(api))));
  mountDocs(app);
  mountUi(app, { tokenRequired: !!deps.config.token });

  app.use('*', bearerAuth(deps.config.token));
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.maxBodyBytes,
      onError: (c) => problemResponse(c, problem('payload-too-large', `bodies are limited to ${deps.config.maxBodyBytes} bytes`)),
    }),
  );
  app.use('*', async (c, next) => {
    c.set('deps', deps);
    await next();
  });
  app.route('/', api);
  return app;
}

export type App = ReturnType<typeof createApp>;
