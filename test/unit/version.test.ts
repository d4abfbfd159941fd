/** One version for the release: package.json's, reported by the CLI, /healthz and the OpenAPI document; the SDK follows. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SDK_VERSION, SERVICE_VERSIONS } from '../../sdk/src/index.js';
import { parseCommandLine } from '../../src/cli/args.js';
import { run } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/topology.js';
import { API_VERSION } from '../../src/app.js';
import { VERSION } from '../../src/version.js';
// @ts-expect-error: a plain .mjs script without declarations
import { versionMismatches } from '../../scripts/version.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => JSON.parse(readFileSync(path.join(ROOT, p), 'utf8')) as Record<string, unknown>;
const pkg = read('package.json') as { version: string };

describe('versions', () => {
  it('the service, its API document and the SDK say package.json version', () => {
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    expect(VERSION).toBe(pkg.version);
    expect(API_VERSION).toBe(pkg.version);
    expect((read('openapi/openapi.json') as { info: { version: string } }).info.version).toBe(pkg.version);
    const sdk = read('sdk/package.json') as { version: string; netplumb: { serviceVersions: string } };
    expect(sdk.version).toBe(pkg.version);
    expect(sdk.netplumb.serviceVersions).toBe(`^${pkg.version}`);
    expect(SDK_VERSION).toBe(pkg.version);
    expect(SERVICE_VERSIONS).toBe(`^${pkg.version}`);
    expect(readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
    expect(versionMismatches()).toEqual([]);
  });

  it('netplumb --version, -V and version print it; serve is a command', async () => {
    for (const argv of [['--version'], ['-V'], ['version'], ['status', '--version']]) {
      expect(parseCommandLine(argv).command, argv.join(' ')).toBe('version');
      const out: string[] = [];
      const io: Io = { out: (s) => void out.push(s), err: () => undefined, progressStream: process.stderr, env: {} };
      expect(await run(argv, io)).toBe(0);
      expect(out).toEqual([pkg.version]);
    }
    expect(parseCommandLine(['serve']).command).toBe('serve');
    expect(() => parseCommandLine(['serve', 'extra'])).toThrow(/unexpected argument/);
  });
});
