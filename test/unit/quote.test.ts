import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteArg, quoteArgv } from '../../src/exec/quote.js';

const run = promisify(execFile);

/** Runs `printf '%s\0' <quoted argv>` through a real /bin/sh and splits what comes back. */
async function throughShell(argv: readonly string[]): Promise<string[]> {
  const { stdout } = await run('/bin/sh', ['-c', `printf '%s\\0' ${quoteArgv(argv)}`], {
    encoding: 'buffer',
    maxBuffer: 16 * 1024 * 1024,
  });
  const parts = stdout.toString('utf8').split('\0');
  expect(parts.pop()).toBe(''); // every word ends with NUL
  return parts;
}

/** Strings a shell would love to misread, mixed into arbitrary Unicode. */
const nasty = fc.constantFrom(
  "'",
  '"',
  '\\',
  '$',
  '`',
  '$(id)',
  '`id`',
  '${HOME}',
  '\n',
  '\t',
  ' ',
  '*',
  '?',
  '[a]',
  '~',
  '!',
  '#',
  ';',
  '&',
  '|',
  '>',
  '<',
  '(',
  ')',
  '{a,b}',
  '-n',
  '--',
  '-e',
  "'\\''",
  'FOO=bar',
  '=ls',
  '%1',
  'é',
  '日本',
  '🦀',
);
const word = fc.array(fc.oneof(fc.string({ unit: 'binary' }), nasty), { maxLength: 6 }).map((parts) => parts.join('').replaceAll('\0', ''));

describe('quoteArg', () => {
  it('leaves safe words alone', () => {
    for (const w of ['abc', 'eth1', '10.11.12.1/24', 'a_b-c.d:e,f@g%h+i', '/usr/bin/ovs-vsctl']) {
      expect(quoteArg(w)).toBe(w);
    }
  });

  it('quotes everything else in single quotes', () => {
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg("it's")).toBe("'it'\\''s'");
    expect(quoteArg('$(reboot)')).toBe("'$(reboot)'");
    expect(quoteArg('`id`')).toBe("'`id`'");
    expect(quoteArg('a\nb')).toBe("'a\nb'");
    expect(quoteArg('é')).toBe("'é'");
  });

  it('quotes words that would be assignments or zsh =expansions', () => {
    expect(quoteArg('FOO=bar')).toBe("'FOO=bar'");
    expect(quoteArg('=ls')).toBe("'=ls'");
    expect(quoteArg('external_ids:netplumb-id=br_1')).toBe('external_ids:netplumb-id=br_1');
  });

  it('rejects NUL', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv(['ok', '\0'])).toThrow(/NUL/);
  });

  it('joins words with single spaces', () => {
    expect(quoteArgv(['ip', 'link', 'set', 'dev', 'my if', 'up'])).toBe("ip link set dev 'my if' up");
    expect(quoteArgv([])).toBe('');
  });

  it('an assignment-looking first word is run, not assigned', async () => {
    const { stdout } = await run('/bin/sh', ['-c', `${quoteArgv(['FOO=bar'])} 2>/dev/null; echo "rc=$?"`]);
    expect(stdout.trim()).toBe('rc=127'); // looked up as a command, not taken as an assignment
  });

  it('round-trips through /bin/sh for any words', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 8 }), async (argv) => {
        expect(await throughShell(argv)).toEqual(argv);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('round-trips the classics', async () => {
    const argv = ["'", "''", "a'b'c", '$(touch /tmp/pwned)', '`touch /tmp/pwned`', 'line1\nline2', '-rf', '日本語 🦀', '', ' '];
    expect(await throughShell(argv)).toEqual(argv);
  });
});
