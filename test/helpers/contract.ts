/**
 * The API contract, checked on every answer the API tests get: each must be one that openapi/openapi.json declares for
 * its operation — the status, the media type, the body against its schema, the required headers. A mismatch is
 * recorded here and fails the test that made the request (setup.ts asserts none are left after each test), so the
 * document cannot drift from what the service answers, in any case the tests reach.
 *
 * Responses only: requests are the tests' own (many are wrong on purpose). Paths the document does not describe
 * (/healthz, /readyz, /docs, /openapi.json, unknown routes) are not checked.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

export const SPEC_FILE = new URL('../../openapi/openapi.json', import.meta.url);

interface Header {
  required?: boolean;
  schema?: { type?: string };
  $ref?: string;
}
interface ResponseObject {
  headers?: Record<string, Header>;
  content?: Record<string, { schema?: object }>;
}
interface Operation {
  operationId: string;
  responses: Record<string, ResponseObject>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { headers?: Record<string, Header> };
}

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  literals: number;
  operation: Operation;
}

/** Compiled once per process (per test file's module graph), on first use; each validator once, when first needed. */
let loaded: { ajv: Ajv2020; routes: Route[]; doc: Document } | null = null;
const validators = new Map<string, ValidateFunction>();

function load(): { ajv: Ajv2020; routes: Route[]; doc: Document } {
  if (loaded) return loaded;
  const doc = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as Document;
  // OpenAPI 3.1 schemas are JSON Schema 2020-12, plus a few annotations of OpenAPI's own.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats.default(ajv);
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  // The whole document as one schema resource, so `#/components/schemas/…` refs resolve inside it; its own fields
  // are annotations to ajv (the schemas under them are compiled only where a response points).
  ajv.addVocabulary(['openapi', 'info', 'servers', 'paths', 'components', 'security', 'tags', 'webhooks']);
  ajv.addSchema(doc, 'openapi.json');
  const routes: Route[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const segments = path.split('/').slice(1);
    const pattern = new RegExp(
      '^/' + segments.map((s) => (/^\{.+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/') + '$',
    );
    const literals = segments.filter((s) => !s.startsWith('{')).length;
    for (const [method, operation] of Object.entries(item))
      routes.push({ method: method.toUpperCase(), path, pattern, literals, operation });
  }
  // /bridges/{id} and /bridges/{host}/{name} never compete, but a literal segment beats a parameter should they ever.
  routes.sort((a, b) => b.literals - a.literals);
  loaded = { ajv, routes, doc };
  return loaded;
}

const pointerPart = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

function validatorFor(ajv: Ajv2020, route: Route, status: string, media: string): ValidateFunction {
  const ref = `openapi.json#/paths/${pointerPart(route.path)}/${route.method.toLowerCase()}/responses/${status}/content/${pointerPart(media)}/schema`;
  let v = validators.get(ref);
  if (!v) {
    v = ajv.compile({ $ref: ref });
    validators.set(ref, v);
  }
  return v;
}

/** A declared header's value against its schema (a number-typed header is read as the number it spells). */
function headerMismatch(ajv: Ajv2020, doc: Document, pointer: string, h: Header, value: string): string | null {
  let at = pointer;
  let header = h;
  if (h.$ref) {
    at = h.$ref.slice(1);
    header = doc.components?.headers?.[h.$ref.split('/').pop()!] ?? {};
  }
  if (!header.schema) return null;
  const ref = `openapi.json#${at}/schema`;
  let v = validators.get(ref);
  if (!v) {
    v = ajv.compile({ $ref: ref });
    validators.set(ref, v);
  }
  const numeric = header.schema.type === 'integer' || header.schema.type === 'number';
  const parsed = numeric && /^-?\d+(?:\.\d+)?$/.test(value) ? Number(value) : value;
  return v(parsed) ? null : `"${value}" does not match its schema: ${ajv.errorsText(v.errors)}`;
}

/**
 * A method the document does not declare for a path it does: 405 with `Allow` naming exactly the declared methods
 * (HEAD with GET), or a refusal made before routing (401, 403, 421). OPTIONS is left to CORS.
 */
function wrongMethodMismatches(routes: Route[], method: string, pathname: string, res: Response): string[] {
  const declared = routes.filter((r) => r.pattern.test(pathname)).map((r) => r.method);
  if (!declared.length || ['HEAD', 'OPTIONS'].includes(method.toUpperCase())) return [];
  const where = `${method} ${pathname} (not declared for this path) → ${res.status}`;
  if ([401, 403, 421].includes(res.status)) return [];
  if (res.status !== 405) return [`${where}: a method the document does not declare for a path it does must answer 405`];
  const allowed = new Set([...declared, ...(declared.includes('GET') ? ['HEAD'] : [])]);
  const allow = new Set(
    (res.headers.get('allow') ?? '')
      .split(',')
      .map((m) => m.trim().toUpperCase())
      .filter(Boolean),
  );
  const same = allow.size === allowed.size && [...allowed].every((m) => allow.has(m));
  return same ? [] : [`${where}: Allow is "${res.headers.get('allow') ?? ''}", the document declares ${[...allowed].join(', ')}`];
}

/** What is wrong with this answer to this request, by the document; empty when it is as declared. Reads clones only. */
export async function contractMismatches(method: string, url: string, res: Response): Promise<string[]> {
  const { ajv, routes, doc } = load();
  const pathname = new URL(url, 'http://localhost').pathname;
  const route = routes.find((r) => r.method === method.toUpperCase() && r.pattern.test(pathname));
  if (!route) return wrongMethodMismatches(routes, method, pathname, res);
  const where = `${method} ${pathname} (${route.operation.operationId}) → ${res.status}`;
  const responses = route.operation.responses;
  const status = [String(res.status), `${String(res.status)[0]}XX`, 'default'].find((s) => responses[s]);
  if (!status) return [`${where}: status not declared (declared: ${Object.keys(responses).join(', ')})`];
  const declared = responses[status]!;
  const out: string[] = [];
  for (const [name, h] of Object.entries(declared.headers ?? {})) {
    const value = res.headers.get(name);
    if (value === null) {
      if (h.required) out.push(`${where}: required header ${name} missing`);
      continue;
    }
    const wrong = headerMismatch(
      ajv,
      doc,
      `/paths/${pointerPart(route.path)}/${route.method.toLowerCase()}/responses/${status}/headers/${pointerPart(name)}`,
      h,
      value,
    );
    if (wrong) out.push(`${where}: header ${name}: ${wrong}`);
  }
  const contentType = res.headers.get('content-type');
  if (!declared.content) {
    if (contentType !== null) out.push(`${where}: declares no content, answered Content-Type: ${contentType}`);
    const text = await res.clone().text();
    if (text) out.push(`${where}: declares no content, answered a ${text.length}-byte body`);
    return out;
  }
  const media = contentType?.split(';')[0]!.trim().toLowerCase();
  const entry = media ? declared.content[media] : undefined;
  if (!media || !entry) {
    return [
      ...out,
      `${where}: Content-Type ${contentType ?? '(none)'} not declared (declared: ${Object.keys(declared.content).join(', ')})`,
    ];
  }
  if (!/^application\/(?:[\w.-]+\+)?json$/.test(media) || !entry.schema) {
    // An event stream (or another non-JSON body) is checked for its media type only: it may run on for a long time.
    return out;
  }
  const text = await res.clone().text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...out, `${where}: ${media} body is not JSON: ${text.slice(0, 200)}`];
  }
  // A problem that says when to try again says it in Retry-After too (RFC 9110 §10.2.3), the same number of seconds.
  const retryAfter = (body as { retryAfter?: unknown } | null)?.retryAfter;
  if (media === 'application/problem+json' && typeof retryAfter === 'number' && res.headers.get('retry-after') !== String(retryAfter))
    out.push(`${where}: the problem's retryAfter is ${retryAfter}, Retry-After is ${res.headers.get('retry-after') ?? '(none)'}`);
  const validate = validatorFor(ajv, route, status, media);
  if (!validate(body)) {
    const errors = (validate.errors ?? [])
      .slice(0, 8)
      .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    out.push(`${where}: body does not match the ${media} schema: ${errors.join('; ')}; body: ${text.slice(0, 400)}`);
  }
  return out;
}

/** Mismatches seen since the last test ended (setup.ts empties it after each test and fails on any). */
export const mismatches: string[] = [];

type FetchLike = (request: Request, ...rest: never[]) => Response | Promise<Response>;

/**
 * Checks every answer of this app (`app.request()` and anything served with `app.fetch`) against the document;
 * mismatches go to `mismatches`. The test still gets the response as it was.
 */
export function checkedAgainstSpec<A extends { fetch: FetchLike }>(app: A): A {
  const inner = app.fetch.bind(app) as (request: Request, ...rest: unknown[]) => Response | Promise<Response>;
  const checked = async (request: Request, ...rest: unknown[]): Promise<Response> => {
    const res = await inner(request, ...rest);
    // Its headers before the check reads (clones) it: reading a lightweight @hono/node-server response remakes it from
    // what it was made with, and headers set on it since (the trace headers) would be lost on a socket because of
    // the check. So what the caller gets is remade from them (the body as it was).
    const headers = new Headers(res.headers);
    mismatches.push(...(await contractMismatches(request.method, request.url, res)));
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
  app.fetch = checked;
  return app;
}
