/**
 * Storage faults: the store cannot do what was asked right now (disk full, I/O error, read-only or locked
 * database), as opposed to a query that can never succeed. The API answers them 503 storage-unavailable with
 * Retry-After; jobs keep their writes in memory until the store takes them (see fault-tolerant.ts).
 */

/** SQLite primary result codes (better-sqlite3 puts the extended code, e.g. SQLITE_IOERR_WRITE, in `code`). */
const SQLITE_STORAGE = /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|NOMEM|PROTOCOL|CORRUPT|NOTADB|NOLFS)(_|$)/;
/** The same seen through the file system (a store that writes files itself). */
const ERRNO_STORAGE = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);
/**
 * PostgreSQL (SQLSTATE): connection exceptions (08), insufficient resources (53: disk full, out of connections),
 * operator intervention (57P: shutdown, cannot connect now), read-only transaction (25006); and the socket or the
 * pool failing (a query timeout, a closed pool: postgres.ts gives those a code).
 */
const PG_STORAGE = /^(08...|53...|57P0[1-4]|25006|ECONNREFUSED|ECONNRESET|ECONNCLOSED|ETIMEDOUT|EPIPE|EHOSTUNREACH|EWORKER)$/;

export function isStorageFault(e: unknown): boolean {
  if (e instanceof StorageUnavailableError) return true;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (SQLITE_STORAGE.test(code) || ERRNO_STORAGE.has(code) || PG_STORAGE.test(code));
}

export function describeFault(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

export class StorageUnavailableError extends Error {
  constructor(
    message: string,
    /** Seconds a client should wait before trying again. */
    readonly retryAfterS: number,
    /** Extension members for the problem answer (e.g. the jobId whose outcome is not saved yet). */
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}
