import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, OPENAPI_PATH, SDK_TYPES_PATH } from '../../scripts/generate.js';

describe('generated files match the code (run `npm run openapi` when this fails)', () => {
  it('openapi/openapi.json and sdk/src/schema.d.ts are what the code generates', async () => {
    const { spec, types } = await generate();
    expect(readFileSync(OPENAPI_PATH, 'utf8'), OPENAPI_PATH).toBe(spec);
    expect(readFileSync(SDK_TYPES_PATH, 'utf8'), SDK_TYPES_PATH).toBe(types);
  });

  it('every operation has a stable operationId, a summary and a description, and declares every status it can answer', async () => {
    const doc = JSON.parse((await generate()).spec) as { openapi: string; paths: Record<string, Record<string, Operation>> };
    expect(doc.openapi).toBe('3.1.0');
    const ids = new Map<string, string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        // Generators name methods after it: verb + noun (createTunnel, listBridges, getBridgeByName), unique.
        expect(op.operationId, where).toMatch(/^(list|get|create|update|delete|probe|apply|plan|repair)[A-Z][A-Za-z]*$/);
        expect(ids.get(op.operationId!), `${where}: operationId ${op.operationId} taken`).toBeUndefined();
        ids.set(op.operationId!, where);
        expect(op.summary?.trim(), `${where}: summary`).toBeTruthy();
        expect(op.description?.trim(), `${where}: description`).toBeTruthy();
        const statuses = Object.keys(op.responses);
        // Any route: an Accept it cannot answer, internal errors.
        for (const s of ['406', '500']) expect(statuses, `${where}: ${s}`).toContain(s);
        // Any route behind the token: bad input, auth, body size, Host check, the store down (errorResponses). The
        // probes (/healthz, /readyz: `security: []`) take no input and answer any Host.
        if (!op.security || op.security.length)
          for (const s of ['400', '401', '413', '421', '422', '503']) expect(statuses, `${where}: ${s}`).toContain(s);
        // What a 201 made is at its Location (RFC 9110 §15.3.2).
        if (op.responses['201']) expect(op.responses['201'].headers?.Location?.required, `${where}: 201 Location`).toBe(true);
        // The origin guard refuses cross-site POST, PUT, PATCH, DELETE.
        if (method !== 'get') expect(statuses, `${where}: 403`).toContain('403');
        if (op.requestBody) expect(statuses, `${where}: 415 (it takes a body)`).toContain('415');
        if (path.includes('{')) expect(statuses, `${where}: 404`).toContain('404');
        for (const [status, r] of Object.entries(op.responses)) {
          if (status === '204') expect(r.content, `${where} 204 has no content`).toBeUndefined();
          else if (Number(status) >= 400) expect(Object.keys(r.content ?? {}), `${where} ${status}`).toEqual(['application/problem+json']);
          // Pictures are not JSON: the graph exports answer exactly their three media types.
          else if (PICTURES.has(op.operationId!))
            expect(Object.keys(r.content ?? {}).sort(), `${where} ${status}`).toEqual([
              'image/svg+xml',
              'text/vnd.graphviz',
              'text/vnd.mermaid',
            ]);
          // Prometheus scrapes its own text format.
          else if (op.operationId === 'getMetrics') expect(Object.keys(r.content ?? {}), `${where} ${status}`).toEqual(['text/plain']);
          else expect(Object.keys(r.content ?? {}), `${where} ${status}`).toContain('application/json');
        }
      }
    }
  });
});

const PICTURES = new Set(['getServiceGraph', 'getTopologyGraph']);

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  requestBody?: unknown;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, { required?: boolean }> }>;
}
