/**
 * Page cursors are opaque: a list's `nextCursor` is the position after its last item, encoded with the list it
 * belongs to (base64url JSON), and only that list takes it back as `cursor`. Anything else (a cursor made by hand, one
 * cut short, another list's) is a 400 `invalid-cursor` pointing at `cursor`, never a quietly empty page that reads as
 * the end of the list. docs/http.md says why.
 */
import { ProblemError } from '../model/problems.js';

const VERSION = 1;

/** The cursor for the position after `position` in `list` (e.g. `host`, `jobs`, `logs:job_…`). */
export function encodeCursor(list: string, position: string | number): string {
  return Buffer.from(JSON.stringify([VERSION, list, position])).toString('base64url');
}

function invalid(detail: string): ProblemError {
  return new ProblemError(
    'invalid-cursor',
    `cursor: ${detail}; pass the \`nextCursor\` of this list's previous page, or no cursor for the first page`,
    {
      errors: [{ pointer: '/cursor', in: 'query', detail }],
    },
  );
}

/** The position a cursor of `list` holds (undefined: no cursor, the first page). Throws a 400 problem for any other. */
export function decodeCursor(list: string, cursor: string | undefined): string | number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) return invalidCursor('not a cursor this service made');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return invalidCursor('not a cursor this service made');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== VERSION) return invalidCursor('not a cursor this service made');
  const of: unknown = parsed[1];
  const position: unknown = parsed[2];
  if (of !== list) return invalidCursor(`a cursor of another list (${typeof of === 'string' ? of : '?'}), not of ${list}`);
  if (typeof position !== 'string' && typeof position !== 'number') return invalidCursor('not a cursor this service made');
  return position;
}

function invalidCursor(detail: string): never {
  throw invalid(detail);
}

/** decodeCursor for lists whose positions are ids. */
export function decodeIdCursor(list: string, cursor: string | undefined): string | undefined {
  const p = decodeCursor(list, cursor);
  if (p === undefined || typeof p === 'string') return p;
  return invalidCursor('not a cursor this service made');
}

/** decodeCursor for lists whose positions are sequence numbers. */
export function decodeSeqCursor(list: string, cursor: string | undefined): number | undefined {
  const p = decodeCursor(list, cursor);
  if (p === undefined || (typeof p === 'number' && Number.isSafeInteger(p) && p >= 0)) return p;
  return invalidCursor('not a cursor this service made');
}
