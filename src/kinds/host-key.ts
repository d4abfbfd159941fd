/** Before a host is registered: its SSH key must be usable, and an inline key must be sealable at rest. */
import { resolve } from 'node:path';
import type { AppConfig } from '../deps.js';
import { isUsablePrivateKey, readPrivateKeyFile, UnusableKeyError } from '../exec/keys.js';
import type { HostCreate } from '../model/hosts.js';
import { ProblemError } from '../model/problems.js';
import { SECRET_KEY_FORMS } from '../secrets.js';

export const INLINE_KEYS_DISABLED = `inline private keys are stored encrypted, and this service has no key to encrypt them with: start it with NETPLUMB_SECRET_KEY (${SECRET_KEY_FORMS}) or NETPLUMB_SECRET_KEY_FILE, or give privateKeyPath instead`;

/** Throws a 422 problem (validation or unusable-key) before any job or record exists. */
export async function checkHostKey(
  config: Pick<AppConfig, 'keyDir' | 'secretKey'>,
  ex: HostCreate['executor'],
  /** Why a key file was refused (the service log; the answer does not say). */
  warn?: (msg: string) => void,
): Promise<void> {
  if (ex.kind !== 'ssh') return;
  if (ex.privateKey !== undefined) {
    const pointer = '/executor/privateKey';
    if (!config.secretKey) throw ProblemError.validation([{ pointer, detail: INLINE_KEYS_DISABLED }], INLINE_KEYS_DISABLED);
    if (!isUsablePrivateKey(ex.privateKey)) {
      const detail = 'privateKey is not an unencrypted private key (OpenSSH or PEM)';
      throw new ProblemError('unusable-key', detail, { errors: [{ pointer, detail }] });
    }
  }
  if (ex.privateKeyPath !== undefined) {
    const pointer = '/executor/privateKeyPath';
    const p = ex.privateKeyPath;
    // Syntax only (reveals nothing about the file system): no `.`, `..` or `//` tricks.
    if (resolve(p) !== p.replace(/\/+$/, ''))
      throw ProblemError.validation([{ pointer, detail: 'a normalized absolute path (no ., .. or //)' }]);
    try {
      await readPrivateKeyFile(p, { keyDir: config.keyDir, warn });
    } catch (e) {
      if (e instanceof UnusableKeyError) throw new ProblemError('unusable-key', e.message, { errors: [{ pointer, detail: e.message }] });
      throw e;
    }
  }
}
