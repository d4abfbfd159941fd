/**
 * Where the package's own files are, whether this code runs from src/ (tsx, vitest) or bundled into dist/ (npm run
 * build): the nearest directory above this module holding netplumb's package.json. Paths relative to
 * `import.meta.url` would differ between the two (a bundle's modules all live in dist/ or dist/chunks/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'netplumb') return dir;
    if (dirname(dir) === dir) break;
  }
  // Shipped without its package.json (a function's zip of dist/ and node_modules): the directory dist/ is in.
  const parts = from.split('/');
  const dist = parts.lastIndexOf('dist');
  return dist > 0 ? parts.slice(0, dist).join('/') || '/' : from;
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** True when this code runs from the bundle in dist/ (built by scripts/build.mjs). */
export const RUNNING_BUILT = fileURLToPath(import.meta.url).startsWith(join(PACKAGE_ROOT, 'dist') + '/');
