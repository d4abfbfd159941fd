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
}

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  literals: number;
  operation: Operation;
}

/** Compiled once per process (per test file's module graph), on first use; each validator once, when first needed. */
let loaded: { ajv: Ajv2020; routes: Route[] } | null = null;
const validators = new Map<string, ValidateFunction>();

function load(): { ajv: Ajv2020; routes: Route[] } {
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
  loaded = { ajv, routes };
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

/** What is wrong with this answer to this request, by the document; empty when it is as declared. Reads clones only. */
export async function contractMismatches(method: string, url: string, res: Response): Promise<string[]> {
  const { ajv, routes } = load();
  const pathname = new URL(url, 'http://localhost').pathname;
  const route = routes.find((r) => r.method === method.toUpperCase() && r.pattern.test(pathname));
  if (!route) return [];
  const where = `${method} ${pathname} (${route.operation.operationId}) → ${res.status}`;
  const responses = route.operation.responses;
  const status = [String(res.status), `${String(res.status)[0]}XX`, 'default'].find((s) => responses[s]);
  if (!status) return [`${where}: status not declared (declared: ${Object.keys(responses).join(', ')})`];
  const declared = responses[status]!;
  const out: string[] = [];
  for (const [name, h] of Object.entries(declared.headers ?? {})) {
    if (h.required && !res.headers.has(name)) out.push(`${where}: required header ${name} missing`);
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
    mismatches.push(...(await contractMismatches(request.method, request.url, res)));
    return res;
  };
  app.fetch = checked;
  return app;
}
