/**
 * The package's version (package.json's `version`, bumped by `npm version`): what `netplumb --version`, `GET /healthz`
 * and the OpenAPI document's `info.version` report. The build (scripts/build.mjs) compiles it in, so the bundle knows
 * it even when shipped without its package.json (a function's zip); run from the sources, package.json is read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

declare const __NETPLUMB_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __NETPLUMB_VERSION__ === 'string') return __NETPLUMB_VERSION__;
  try {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (manifest.name === 'netplumb' && manifest.version) return manifest.version;
  } catch {
    // no package.json beside the code: fall through
  }
  return '0.0.0-unknown';
}

export const VERSION = readVersion();
