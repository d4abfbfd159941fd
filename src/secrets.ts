/**
 * Secrets at rest: inline SSH private keys are sealed with AES-256-GCM under the key from NETPLUMB_SECRET_KEY
 * (or NETPLUMB_SECRET_KEY_FILE), a random 96-bit nonce per seal and the resource id as associated data, so a sealed
 * value copied onto another row does not open. The stored form is versioned (`v1:`) so the scheme or key can
 * rotate later: `v1:<nonce>:<ciphertext>:<tag>`, each part base64url.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const VERSION = 'v1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export const SECRET_KEY_FORMS = '32 bytes written as 64 hex digits or as base64 (e.g. `openssl rand -base64 32`)';

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a secret key must be ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** A short, non-secret name for the key (to tell keys apart in messages). */
  get keyId(): string {
    return createHash('sha256').update('netplumb-key-id').update(this.#key).digest('hex').slice(0, 8);
  }

  seal(plaintext: string, associatedData: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(Buffer.from(associatedData, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return [VERSION, nonce, ct, c.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join(':');
  }

  /** Throws when the value is not sealed, was sealed under another key, or belongs to another resource. */
  open(sealed: string, associatedData: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('not a sealed value this version can open');
    const [nonce, ct, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
    if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) throw new Error('malformed sealed value');
    const d = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(Buffer.from(associatedData, 'utf8'));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
  }

  static isSealed(v: unknown): v is string {
    return typeof v === 'string' && v.startsWith(`${VERSION}:`);
  }
}

/** 64 hex digits, or base64/base64url of 32 bytes; from a file also exactly 32 raw bytes. Null when malformed. */
export function parseSecretKey(text: string | Buffer): Buffer | null {
  if (Buffer.isBuffer(text)) {
    const t = text.toString('latin1').trim();
    return parseSecretKey(t) ?? (text.length === KEY_BYTES ? Buffer.from(text) : null);
  }
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t) || /^[A-Za-z0-9_-]{43}$/.test(t)) {
    const b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  return null;
}

/**
 * The key from the environment, or undefined when neither variable is set. Throws a one-line message naming the
 * variable (and never quoting the value) when it is malformed or unreadable.
 */
export function loadSecretKey(env: NodeJS.ProcessEnv): Buffer | undefined {
  const inline = env.NETPLUMB_SECRET_KEY;
  const file = env.NETPLUMB_SECRET_KEY_FILE;
  if (inline && file) throw new Error('set NETPLUMB_SECRET_KEY or NETPLUMB_SECRET_KEY_FILE, not both');
  if (inline) {
    const k = parseSecretKey(inline);
    if (!k) throw new Error(`NETPLUMB_SECRET_KEY must be ${SECRET_KEY_FORMS}`);
    return k;
  }
  if (file) {
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (e) {
      throw new Error(`NETPLUMB_SECRET_KEY_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const k = parseSecretKey(raw);
    if (!k) throw new Error(`NETPLUMB_SECRET_KEY_FILE: ${file} must hold ${SECRET_KEY_FORMS}, or exactly 32 raw bytes`);
    return k;
  }
  return undefined;
}
