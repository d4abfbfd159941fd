/** The database files hold job logs and sealed secrets: only the service's user may read them. */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates the database's directory 0700 (only the directories it creates; an existing one is left as the
 * operator set it) and the database file 0600 before SQLite opens it: SQLite creates `-wal` and `-shm` with the
 * database file's mode. Files left group/world-readable by an older version are tightened to 0600.
 */
export function prepareDbFiles(path: string): void {
  if (path === ':memory:' || path === '' || path.startsWith('file:')) return;
  mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if (statSync(f).mode & 0o077) chmodSync(f, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
