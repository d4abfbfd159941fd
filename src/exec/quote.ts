/**
 * The one POSIX shell quoting function. Everything that turns an argv into a
 * command line for a remote shell (SSH) goes through here, so the remote shell
 * always sees exactly the words we meant — whatever they contain.
 */

/** Characters that mean nothing special to a POSIX shell in any position of a word. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
/**
 * Safe characters that still change meaning in one position: `NAME=value` as the
 * first word is an assignment, not a command; a leading `=` is expanded by zsh.
 * Quoted wherever they appear, so a word's quoting never depends on its position.
 */
const ASSIGNMENT_LIKE = /^(=|[A-Za-z_][A-Za-z0-9_]*=)/;

/** Quotes one word for a POSIX shell: `it's` → `'it'\''s'`; `''` for the empty string. */
export function quoteArg(s: string): string {
  if (typeof s !== 'string') throw new TypeError(`quoteArg: expected a string, got ${typeof s}`);
  // A C string (argv, exec) cannot carry NUL: refuse instead of silently truncating.
  if (s.includes('\0')) throw new TypeError('quoteArg: argument contains a NUL character');
  if (s === '') return "''";
  if (SAFE.test(s) && !ASSIGNMENT_LIKE.test(s)) return s;
  // Inside single quotes nothing is special except the closing quote itself.
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Quotes every word and joins them with single spaces. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}
