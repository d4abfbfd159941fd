#!/usr/bin/env node
// netplumb CLI. Runs the built CLI (dist/cli.mjs, `npm run build`) when it is up to date with the sources; otherwise
// the TypeScript sources through tsx's ESM loader (a dependency), so a fresh clone works without a build step.
import process from 'node:process';
import { isStale } from '../scripts/build.mjs';

process.env.NETPLUMB_CLI_MAIN = '1';
if (!isStale()) {
  await import('../dist/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
