/**
 * Preloaded (`node --import`) when scripts/test.sh runs the suites on another Node.js line: a native addon is built
 * for one Node ABI, and node_modules holds the build for the machine's Node. NETPLUMB_ADDON_REDIRECT maps an addon's
 * file name to a build for this Node (`better_sqlite3.node=/cache/…/better_sqlite3.node`, comma-separated), made by
 * scripts/node-line.sh in a cache directory, so node_modules is never touched.
 */
import path from 'node:path';

const redirects = new Map(
  (process.env.NETPLUMB_ADDON_REDIRECT || '')
    .split(',')
    .filter(Boolean)
    .map((pair) => pair.split('=')),
);
const inNodeModules = `${path.sep}node_modules${path.sep}`;
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  const to = filename.includes(inNodeModules) ? redirects.get(path.basename(filename)) : undefined;
  return dlopen.call(this, module, to ?? filename, ...rest);
};
