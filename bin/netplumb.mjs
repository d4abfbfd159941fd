#!/usr/bin/env node
// netplumb CLI. No build step yet: the TypeScript sources run through tsx's ESM loader (a dependency already).
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
process.env.NETPLUMB_CLI_MAIN = '1';
await import('../src/cli/main.ts');
