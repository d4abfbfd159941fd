#!/usr/bin/env node
/**
 * `npm version <new>`'s `version` lifecycle script (package.json is already bumped; npm commits and tags what this
 * stages): the SDK follows the service. sdk/package.json's version becomes the package's, its
 * `netplumb.serviceVersions` the range of service versions it speaks to (^<version>), the SDK's SDK_VERSION and
 * SERVICE_VERSIONS constants the same; then `npm run openapi` rewrites the OpenAPI document (info.version) and the
 * SDK's generated types; CHANGELOG.md's Unreleased entries become the `## [<version>] - <date>` section, under a
 * new empty Unreleased.
 * `node scripts/version.mjs --check` only says whether everything agrees (the unit tests run the same check).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (p) => readFileSync(join(root, p), 'utf8');

/** What must agree with package.json's version: [file, what it says now, what it should say, the rewritten text]. */
export function versionMismatches() {
  const { version } = JSON.parse(read('package.json'));
  const range = `^${version}`;
  const out = [];
  const sdkPkg = JSON.parse(read('sdk/package.json'));
  if (sdkPkg.version !== version || sdkPkg.netplumb?.serviceVersions !== range) {
    const fixed = { ...sdkPkg, version, netplumb: { ...sdkPkg.netplumb, serviceVersions: range } };
    out.push([
      'sdk/package.json',
      `${sdkPkg.version} ${sdkPkg.netplumb?.serviceVersions}`,
      `${version} ${range}`,
      `${JSON.stringify(fixed, null, 2)}\n`,
    ]);
  }
  const index = read('sdk/src/index.ts');
  const fixedIndex = index
    .replace(/export const SDK_VERSION = '[^']*';/, `export const SDK_VERSION = '${version}';`)
    .replace(/export const SERVICE_VERSIONS = '[^']*';/, `export const SERVICE_VERSIONS = '${range}';`);
  if (fixedIndex !== index) out.push(['sdk/src/index.ts', 'SDK_VERSION/SERVICE_VERSIONS', `${version} ${range}`, fixedIndex]);
  const changelog = read('CHANGELOG.md');
  if (!changelog.includes(`\n## [${version}] - `)) {
    const date = new Date().toISOString().slice(0, 10);
    const fixed = changelog.replace('\n## [Unreleased]\n', `\n## [Unreleased]\n\n## [${version}] - ${date}\n`);
    out.push(['CHANGELOG.md', 'no section', `## [${version}] - ${date}`, fixed === changelog ? null : fixed]);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mismatches = versionMismatches();
  if (process.argv.includes('--check')) {
    for (const [file, now, want] of mismatches) console.error(`${file}: ${now}, want ${want}`);
    process.exit(mismatches.length ? 1 : 0);
  }
  for (const [file, , want, text] of mismatches) {
    if (text === null) {
      console.error(`netplumb: ${file} has no "## [Unreleased]" heading to turn into "${want}"`);
      process.exit(1);
    }
    writeFileSync(join(root, file), text);
    console.log(`netplumb: ${file} → ${want}`);
  }
  execFileSync('npm', ['run', '--silent', 'openapi'], { cwd: root, stdio: 'inherit' });
  execFileSync('npx', ['prettier', '--write', 'sdk/package.json', 'sdk/src/index.ts', 'CHANGELOG.md'], { cwd: root, stdio: 'inherit' });
  if (existsSync(join(root, '.git')))
    execFileSync('git', ['add', 'CHANGELOG.md', 'sdk/package.json', 'sdk/src/index.ts', 'sdk/src/schema.d.ts', 'openapi/openapi.json'], {
      cwd: root,
      stdio: 'inherit',
    });
}
