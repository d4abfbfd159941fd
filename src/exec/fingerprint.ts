import { createHash } from 'node:crypto';

/** `SHA256:` + unpadded base64 of sha256(key blob): the form `ssh-keygen -lf` prints. */
export function fingerprintOfKey(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Accepts the fingerprint with or without its `SHA256:` prefix and base64 padding. */
export function normalizeFingerprint(fp: string): string {
  const bare = fp
    .trim()
    .replace(/^SHA256:/, '')
    .replace(/=+$/, '');
  return `SHA256:${bare}`;
}
