#!/usr/bin/env node
/** `npm start`: runs the built service (dist/server.mjs) with plain node, building it first when dist/ is missing or stale. */
import { buildAll, isStale } from './build.mjs';

if (isStale()) {
  console.log('netplumb: dist/ is missing or older than the sources: building it first');
  await buildAll({ quiet: true });
}
await import('../dist/server.mjs');
