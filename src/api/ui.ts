/**
 * /ui: the web page, served by the service itself (no CDN: works on closed networks and offline). The browser code
 * (src/ui/*.ts, with the shared graph module and elkjs) is bundled by `npm run build` into dist/ui/app.js, which the
 * built service serves; run from the sources (tsx, tests), it is bundled with esbuild on the first request and kept in
 * memory, so a fresh clone just works.
 * Everything is served under a strict Content-Security-Policy: scripts and styles only from this origin, no inline
 * code, API calls only to this origin, no framing.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, Env, Hono } from 'hono';
import { PACKAGE_ROOT, RUNNING_BUILT } from '../paths.js';

/** The page's files: from dist/ui when built (scripts/build.mjs copies them there), else from the sources. */
const UI_DIR = join(PACKAGE_ROOT, RUNNING_BUILT ? 'dist/ui/' : 'src/ui/');
/** Where `npm run build` writes the browser bundle (scripts/build.mjs uses the same options as below). */
export const BUILT_UI_BUNDLE = join(PACKAGE_ROOT, 'dist/ui/app.js');

/** esbuild options for the browser bundle (scripts/build.mjs builds dist/ui/app.js with the same). */
const UI_BUILD = { bundle: true, format: 'esm', platform: 'browser', target: ['es2020'], minify: true } as const;

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': UI_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

const asset = (body: Uint8Array | string, type: string): Asset => {
  const b = new Uint8Array(typeof body === 'string' ? new TextEncoder().encode(body) : body);
  return { body: b, type, etag: `"${createHash('sha256').update(b).digest('base64url').slice(0, 27)}"` };
};

const files = new Map<string, Asset>();
function fileAsset(name: string, type: string): Asset {
  let a = files.get(name);
  if (!a) files.set(name, (a = asset(readFileSync(UI_DIR + name), type)));
  return a;
}

let bundle: Promise<Asset> | null = null;

/** The browser bundle: read from dist/ when built, else built once per process (about a second), on first need. */
export function uiBundle(): Promise<Asset> {
  bundle ??= (async () => {
    if (RUNNING_BUILT) return asset(readFileSync(BUILT_UI_BUNDLE), 'text/javascript; charset=utf-8');
    const esbuild = await import('esbuild');
    const out = await esbuild.build({
      ...UI_BUILD,
      target: [...UI_BUILD.target],
      entryPoints: [UI_DIR + 'main.ts'],
      write: false,
      logLevel: 'silent',
    });
    return asset(out.outputFiles[0]!.contents, 'text/javascript; charset=utf-8');
  })();
  // A failed build is not cached: the next request tries again (and its error reaches the log through onError).
  bundle.catch(() => (bundle = null));
  return bundle;
}

function send(c: Context, a: Asset): Response {
  const headers = { ...SECURITY_HEADERS, 'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache' };
  if (c.req.header('if-none-match') === a.etag) return c.body(null, 304, headers);
  return c.body(a.body, 200, headers);
}

/**
 * `tokenRequired`: the page asks for the token before its first API call (a 401 would be logged in the browser's
 * console as an error), so the page says whether the service has one: `<meta name="netplumb-auth">`.
 */
export function mountUi<E extends Env>(app: Hono<E>, opts: { tokenRequired: boolean }): void {
  let html: Asset | null = null;
  const page = (c: Context) => {
    void uiBundle().catch(() => undefined); // warm up while the browser parses the page
    html ??= asset(
      readFileSync(UI_DIR + 'index.html', 'utf8').replace('{{AUTH}}', opts.tokenRequired ? 'bearer' : 'none'),
      'text/html; charset=utf-8',
    );
    return send(c, html);
  };
  app.get('/ui', page);
  app.get('/ui/', page);
  app.get('/ui/app.css', (c) => send(c, fileAsset('app.css', 'text/css; charset=utf-8')));
  app.get('/ui/favicon.svg', (c) => send(c, fileAsset('favicon.svg', 'image/svg+xml')));
  app.get('/ui/app.js', async (c) => send(c, await uiBundle()));
}
