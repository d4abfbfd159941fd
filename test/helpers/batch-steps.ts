/** Steps for batch tests: each prints what it is given and leaves a trace, so a test sees what ran and in what order. */
import { readFileSync } from 'node:fs';
import type { BatchStep } from '../../src/exec/batch.js';

/** Prints $1 on stdout and $2 on stderr (no newline added), appends $4 to the file $5, exits $3. */
export const ECHO_STEP = 'printf %s "$1"; printf %s "$2" >&2; printf "%s\\n" "$4" >> "$5"; exit "$3"';

export const echoStep = (out: string, err: string, code: number, id: string, file: string, okExitCodes?: number[]): BatchStep => ({
  argv: ['sh', '-c', ECHO_STEP, '_', out, err, String(code), id, file],
  ...(okExitCodes ? { okExitCodes } : {}),
});

/** The ids of the steps that ran, in order (nothing when none did). */
export const ranIds = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(0, -1);
  } catch {
    return [];
  }
};
