/** Real (throwaway) private keys for tests that must get past key validation; no ssh-keygen needed. */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** An unencrypted ECDSA P-256 private key in PEM (SEC1), a format ssh2 parses. */
export function testPrivateKey(): string {
  return generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
}

/** A NETPLUMB_SECRET_KEY for tests. */
export function testSecretKey(): Buffer {
  return randomBytes(32);
}

/** The base64 body of a PEM key: what must never be found anywhere. */
export function keyBody(pem: string): string {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
}
