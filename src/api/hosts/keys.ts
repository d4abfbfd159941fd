/** Before a host is registered: its SSH key must be usable. */
import { resolve } from 'node:path';
import type { AppConfig } from '../../deps.js';
import { readPrivateKeyFile, UnusableKeyError } from '../../exec/keys.js';
import type { HostCreate } from '../../model/hosts.js';
import { ProblemError } from '../../model/problems.js';

/** Throws a 422 problem (validation or unusable-key) before any job or record exists. */
export async function checkHostKey(config: Pick<AppConfig, 'keyDir'>, ex: HostCreate['executor']): Promise<void> {
  if (ex.kind !== 'ssh') return;
  if (ex.privateKeyPath !== undefined) {
    const pointer = '/executor/privateKeyPath';
    const p = ex.privateKeyPath;
    // Syntax only (reveals nothing about the file system): no `.`, `..` or `//` tricks.
    if (resolve(p) !== p.replace(/\/+$/, '')) throw ProblemError.validation([{ pointer, detail: 'a normalized absolute path (no ., .. or //)' }]);
    try {
      await readPrivateKeyFile(p, { keyDir: config.keyDir });
    } catch (e) {
      if (e instanceof UnusableKeyError) throw new ProblemError('unusable-key', e.message, { errors: [{ pointer, detail: e.message }] });
      throw e;
    }
  }
}
