import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generate, OPENAPI_PATH, SDK_TYPES_PATH } from './generate.js';

const { spec, types } = await generate();
for (const [path, text] of [
  [OPENAPI_PATH, spec],
  [SDK_TYPES_PATH, types],
] as const) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${path} (${text.length} bytes)`);
}
