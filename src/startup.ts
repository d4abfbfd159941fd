/**
 * Start-up failures speak to a person: one line on stderr naming what is wrong and what to do, and an exit status
 * a supervisor (systemd, a container runtime, a CI step) can act on. The statuses follow sysexits(3):
 *
 * | status | meaning |
 * | --- | --- |
 * | 78 (`EX_CONFIG`) | bad configuration: an environment variable is missing, malformed or unsafe |
 * | 73 (`EX_CANTCREAT`) | the database cannot be opened, created or migrated |
 * | 69 (`EX_UNAVAILABLE`) | the address cannot be listened on (in use, or a privileged port) |
 * | 70 (`EX_SOFTWARE`) | anything else during start-up (a bug: the line says what failed) |
 */
export const EXIT = { config: 78, database: 73, listen: 69, software: 70 } as const;

export type StartupFailure = keyof typeof EXIT;

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Prints `netplumb: <what>: <reason>` and exits with the status for `kind`. */
export function exitAtStartup(kind: StartupFailure, what: string, e?: unknown): never {
  console.error(`netplumb: ${what}${e === undefined ? '' : `: ${messageOf(e)}`}`);
  process.exit(EXIT[kind]);
}

/** What to change, by the error listen(2) gave. */
const LISTEN_ADVICE: Record<string, string> = {
  EADDRINUSE: 'the address is in use by another process (choose another PORT, or stop that process)',
  EACCES: 'permission denied (ports below 1024 need privileges: choose PORT >= 1024)',
  EADDRNOTAVAIL: 'no interface of this machine has that address (check HOST)',
};

/** The one line for an error from listen(2): what to change. */
export function listenFailure(e: NodeJS.ErrnoException, host: string, port: number): string {
  return `cannot listen on ${host}:${port}: ${(e.code && LISTEN_ADVICE[e.code]) || e.message}`;
}
