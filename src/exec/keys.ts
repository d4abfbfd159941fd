/**
 * SSH private keys: reading a key file safely, and telling whether text is a usable private key.
 *
 * A key path comes from an API caller, so the file is opened the way an untrusted path must be: the real path
 * (symlinks followed) must lie inside NETPLUMB_KEY_DIR when that is set, the final component is opened with
 * O_NOFOLLOW (a symlink swapped in after the check is not followed), the opened file must be a regular file, and
 * what was opened is checked again through /proc (a directory swapped for a symlink in between). Every failure
 * gives the same message, so a caller cannot learn whether a path exists, is a directory or holds something else;
 * the reason goes to the service's own log only.
 */
import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { ParsedKey, utils as Ssh2Utils } from 'ssh2';
import { lazyModule } from '../lazy.js';

// ssh2 loads on first use (src/lazy.ts); `utils` is reached through the CommonJS module object.
const loadSsh2 = lazyModule<{ utils: typeof Ssh2Utils }>('ssh2');

/** Larger than any private key (an 16384-bit RSA key is ~13 KiB in PEM). */
const MAX_KEY_BYTES = 64 * 1024;

export class UnusableKeyError extends Error {
  /** For the operator's log: never put into answers or job logs. */
  readonly reason: string;
  constructor(message: string, reason: string) {
    super(message);
    this.name = 'UnusableKeyError';
    this.reason = reason;
  }
}

export function unusableKeyFileMessage(keyDir: string | undefined): string {
  return `the private key file cannot be used: privateKeyPath must name a readable regular file${keyDir ? ' inside NETPLUMB_KEY_DIR' : ''} holding an unencrypted private key (OpenSSH or PEM)`;
}

/** True when text is one private key ssh2 can use without a passphrase. */
export function isUsablePrivateKey(text: string): boolean {
  // ssh2 answers an array for a file holding several keys (its typing does not say so).
  const parsed: unknown = loadSsh2().utils.parseKey(text);
  const key = (Array.isArray(parsed) ? (parsed as unknown[])[0] : parsed) as ParsedKey | Error | undefined;
  return !!key && !(key instanceof Error) && key.isPrivateKey();
}

function inside(path: string, dir: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(dir + '/');
}

/** The key text; throws UnusableKeyError (one message for every failure) otherwise. */
/** warn: where the reason a file was refused goes (the service log: the answer never says it). */
export async function readPrivateKeyFile(
  path: string,
  opts: { keyDir?: string | undefined; warn?: ((msg: string) => void) | undefined } = {},
): Promise<string> {
  const fail = (reason: string): never => {
    opts.warn?.(`SSH key file ${JSON.stringify(path)} refused: ${reason}`);
    throw new UnusableKeyError(unusableKeyFileMessage(opts.keyDir), reason);
  };
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);
  if (!isAbsolute(path)) fail('not an absolute path');
  let dir: string | undefined;
  if (opts.keyDir) {
    try {
      dir = await realpath(opts.keyDir);
    } catch (e) {
      fail(`NETPLUMB_KEY_DIR ${opts.keyDir}: ${code(e)}`);
    }
  }
  let real = '';
  try {
    real = await realpath(path);
  } catch (e) {
    fail(code(e));
  }
  if (dir && !inside(real, dir)) fail(`resolves to ${real}, outside NETPLUMB_KEY_DIR ${dir}`);

  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    // O_NONBLOCK: a FIFO put in the key's place cannot hang the open.
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    fail(code(e));
  }
  try {
    const st = await fh!.stat();
    if (!st.isFile()) fail('not a regular file');
    if (st.size > MAX_KEY_BYTES) fail(`larger than ${MAX_KEY_BYTES} bytes`);
    if (dir) {
      const opened = await readlink(`/proc/self/fd/${fh!.fd}`).catch(() => real);
      if (!inside(opened, dir)) fail(`opened ${opened}, outside NETPLUMB_KEY_DIR ${dir}`);
    }
    const text = await fh!.readFile('utf8');
    if (!isUsablePrivateKey(text)) fail('not an unencrypted private key ssh2 can parse');
    return text;
  } catch (e) {
    if (e instanceof UnusableKeyError) throw e;
    return fail(code(e));
  } finally {
    await fh!.close().catch(() => undefined);
  }
}
