/** /docs: Swagger UI served from the swagger-ui-dist package (no CDN: works on closed networks). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Env, Hono } from 'hono';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>netplumb API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui', deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });</script>
</body></html>`;

let dir: string | null = null;
const cache = new Map<string, Buffer>();

function asset(name: string): Buffer {
  dir ??= dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  let b = cache.get(name);
  if (!b) {
    b = readFileSync(join(dir, name));
    cache.set(name, b);
  }
  return b;
}

export function mountDocs<E extends Env>(app: Hono<E>): void {
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/:file', (c, next) => {
    const file = c.req.param('file');
    if (!Object.hasOwn(ASSETS, file)) return next();
    const type = ASSETS[file]!;
    return c.body(new Uint8Array(asset(file)), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
  });
}
