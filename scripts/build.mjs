#!/usr/bin/env node
/**
 * `npm run build`: the service (and the CLI) compiled to JavaScript with source maps in dist/.
 *
 * esbuild bundles each entry into one ES module: our code and the pure-JS libraries it imports at start-up (hono, zod,
 * @hono/zod-openapi). One file loads much faster than the ~900 files node would otherwise resolve one by one. Native
 * or heavy modules stay external and load from node_modules: better-sqlite3 and pg (native or optional native parts),
 * ssh2 and dockerode (loaded on first use, src/lazy.ts), swagger-ui-dist (files read from the package).
 * Types are checked by `npm run typecheck` (tsc), not here: esbuild only strips them.
 *
 * `isStale()` says whether dist/ is missing or older than anything it is built from (npm start builds first then).
 */
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(root, 'dist');
const stampFile = join(distDir, '.built');

/** Entry points: dist/<name>.mjs from src/<path>. */
export const ENTRIES = {
  server: 'src/server.ts',
  worker: 'src/worker.ts',
  lambda: 'src/lambda.ts',
  cli: 'src/cli/main.ts',
};

// esbuild and tsx: only imported when running from the sources (src/api/ui.ts builds the page's bundle on the fly).
// @opentelemetry/*: loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (src/observability/otel.ts).
const EXTERNAL = [
  'better-sqlite3',
  'pg',
  'pg-native',
  'ssh2',
  'cpu-features',
  'dockerode',
  'swagger-ui-dist',
  'yaml',
  'tsx',
  'esbuild',
  '@opentelemetry/*',
];

/** What the build reads: sources, the SDK the CLI imports, the manifest (its version), the lock file, this script. */
const INPUTS = ['src', 'sdk/src', 'package.json', 'package-lock.json', 'scripts/build.mjs'];

function newestMtime(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

export function isStale() {
  const built = statSync(stampFile, { throwIfNoEntry: false });
  if (!built) return true;
  const newestInput = Math.max(...INPUTS.map((p) => newestMtime(join(root, p))));
  return newestInput > built.mtimeMs || Object.keys(ENTRIES).some((name) => !existsSync(join(distDir, `${name}.mjs`)));
}

export async function buildAll({ quiet = false } = {}) {
  const started = performance.now();
  // Imported here, not at the top: `npm start` of a deployment that ships dist/ (no dev dependencies) never builds.
  const { build } = await import('esbuild');
  // The package's version, compiled in (src/version.ts): `netplumb --version`, /healthz, the OpenAPI document.
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  // From scratch: chunks' names carry hashes, and a package must not ship the chunks of earlier builds.
  rmSync(distDir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, path]) => [name, path])),
    outdir: distDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    // Maps give stack traces (node --enable-source-maps) their src/ file and line; the sources' text is left out (it
    // would double the package: the bundled libraries' code is most of it).
    sourcesContent: false,
    external: EXTERNAL,
    define: { __NETPLUMB_VERSION__: JSON.stringify(version) },
    // Bundled CommonJS code (zod-openapi's dependencies) may call require(): give the ES module one.
    banner: { js: "import { createRequire as __netplumbRequire } from 'node:module'; const require = __netplumbRequire(import.meta.url);" },
    logLevel: quiet ? 'warning' : 'info',
  });
  // The web page's browser code (src/api/ui.ts serves it; the same options as it uses when run from the sources).
  await build({
    absWorkingDir: root,
    entryPoints: ['src/ui/main.ts'],
    outfile: join(distDir, 'ui/app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    logLevel: quiet ? 'warning' : 'info',
  });
  // The page's static files beside its bundle (the built service serves dist/ui only: src/ need not be shipped).
  for (const f of ['index.html', 'app.css', 'favicon.svg']) copyFileSync(join(root, 'src/ui', f), join(distDir, 'ui', f));
  writeFileSync(stampFile, `${new Date().toISOString()}\n`);
  if (!quiet) console.log(`netplumb: built dist/ in ${Math.round(performance.now() - started)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildAll();
}
