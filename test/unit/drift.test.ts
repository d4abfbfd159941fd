import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, OPENAPI_PATH, SDK_TYPES_PATH } from '../../scripts/generate.js';

describe('generated files match the code (run `npm run openapi` when this fails)', () => {
  it('openapi/openapi.json and sdk/src/schema.d.ts are what the code generates', async () => {
    const { spec, types } = await generate();
    expect(readFileSync(OPENAPI_PATH, 'utf8'), OPENAPI_PATH).toBe(spec);
    expect(readFileSync(SDK_TYPES_PATH, 'utf8'), SDK_TYPES_PATH).toBe(types);
  });

  it('every route declares its problems and the spec is OpenAPI 3.1', async () => {
    const doc = JSON.parse((await generate()).spec);
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, item] of Object.entries<Record<string, { responses: Record<string, unknown> }>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('422');
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('401');
      }
    }
  });
});
