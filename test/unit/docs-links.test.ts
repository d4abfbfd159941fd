/**
 * The docs point at things that exist: every relative link and image in README.md, docs/ and sdk/README.md resolves
 * to a file (and a `#anchor` to a heading of it), and every repository path a comment or doc names in passing
 * (`src/jobs/runner.ts`, `docs/ipv6.md`, …) is there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function walk(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : walk(path, keep);
    return keep(path) ? [path] : [];
  });
}

const MARKDOWN = ['README.md', 'sdk/README.md', ...walk('docs', (p) => p.endsWith('.md'))];

/** The Markdown outside fenced code blocks (a link in a code sample is not a link). */
function prose(text: string): string {
  let fenced = false;
  return text
    .split('\n')
    .filter((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      return !fenced && !line.startsWith('```');
    })
    .join('\n')
    .replace(/`[^`\n]*`/g, '``');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(markdown.replace(/`/g, '')).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Relative links and images of `file` (its text given) that do not resolve, each with why. */
function brokenLinks(file: string, text: string): string[] {
  const targets = [
    ...[...prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/<img [^>]*src="([^"]+)"/g)].map((m) => m[1]!),
  ].filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
  const broken: string[] = [];
  for (const target of targets) {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const abs = path ? resolve(ROOT, dirname(file), decodeURI(path)) : join(ROOT, file);
    if (!existsSync(abs)) broken.push(`${target}: no such file`);
    else if (anchor && abs.endsWith('.md') && !anchors(readFileSync(abs, 'utf8')).has(anchor))
      broken.push(`${target}: no heading with that anchor in ${relative(ROOT, abs)}`);
  }
  return broken;
}

describe('links in README.md and docs/', () => {
  it('there are guides to check: README and at least ten pages under docs/', () => {
    expect(MARKDOWN.length).toBeGreaterThanOrEqual(12);
  });

  it.each(MARKDOWN)('%s: every relative link and image resolves, anchors to a heading', (file) => {
    expect(brokenLinks(file, readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
  });

  it('the check can fail: a missing file, a missing anchor and a missing image are each reported', () => {
    const text = '[a](nope.md) [b](README.md#no-such-heading) ![c](docs/none.png) [d](docs/README.md) `[e](x.md)`';
    expect(brokenLinks('README.md', text)).toEqual([
      'nope.md: no such file',
      'README.md#no-such-heading: no heading with that anchor in README.md',
      'docs/none.png: no such file',
    ]);
  });
});

describe('paths named in comments and docs', () => {
  const SOURCES = [
    ...MARKDOWN,
    'deploy/netplumb.service',
    ...['src', 'test', 'scripts', 'bench', 'bin', 'sdk/src', 'sdk/examples', 'examples', '.github'].flatMap((d) =>
      walk(d, (p) => /\.(ts|mjs|cjs|js|sh|ya?ml)$/.test(p)),
    ),
  ].filter((f) => f !== 'test/unit/docs-links.test.ts'); // its own made-up example below
  // A path from the repository root: a top-level folder, then a file with an extension. Not `../src/x.js` (an import
  // specifier, resolved by the compiler) nor a URL or a path on a host (/run/…).
  const PATH =
    /(?<![\w./@-])(?:src|test|scripts|bench|docs|deploy|examples|sdk|bin|\.github)\/[\w./-]*\w\.(?:ts|mjs|cjs|md|json|ya?ml|sh|png|service)\b/g;

  it('every one of them exists (from the repository root, or from sdk/ in the SDK)', () => {
    const missing: string[] = [];
    for (const file of SOURCES) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(PATH)) {
        const p = m[0];
        if (existsSync(join(ROOT, p))) continue;
        if (file.startsWith('sdk/') && existsSync(join(ROOT, 'sdk', p))) continue;
        if (existsSync(join(ROOT, dirname(file), p))) continue;
        missing.push(`${file}: ${p}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the check can fail: a made-up path is found and reported missing', () => {
    const found = [...'see src/jobs/reconcile.ts, not ../src/x.js'.matchAll(PATH)].map((m) => m[0]);
    expect(found).toEqual(['src/jobs/reconcile.ts']);
    expect(existsSync(join(ROOT, found[0]!))).toBe(false);
  });
});
