#!/usr/bin/env node
// netplumb CLI (`netplumb serve` runs the service). An installed package runs the built CLI (dist/cli.mjs) and nothing
// else: it ships no sources and no TypeScript loader. In a git checkout (src/ beside bin/), the built CLI runs when it
// is up to date with the sources; otherwise the sources through tsx (a dev dependency), so a fresh clone works without
// a build step.
import { existsSync } from 'node:fs';
import process from 'node:process';

process.env.NETPLUMB_CLI_MAIN = '1';
const checkout = existsSync(new URL('../src/cli/main.ts', import.meta.url)) && existsSync(new URL('../scripts/build.mjs', import.meta.url));
if (!checkout || !(await import('../scripts/build.mjs')).isStale()) {
  await import('../dist/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
