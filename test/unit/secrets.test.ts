import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadSecretKey, parseSecretKey, SecretBox } from '../../src/secrets.js';

describe('SecretBox (AES-256-GCM, random nonce, resource id as associated data)', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips, versioned, a fresh nonce each time', () => {
    const a = box.seal('private key text', 'host_a');
    const b = box.seal('private key text', 'host_a');
    expect(a).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('private');
    expect(box.open(a, 'host_a')).toBe('private key text');
    expect(SecretBox.isSealed(a)).toBe(true);
  });

  it('does not open for another resource id, another key, or a changed byte', () => {
    const s = box.seal('k', 'host_a');
    expect(() => box.open(s, 'host_b')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(s, 'host_a')).toThrow();
    const parts = s.split(':');
    const ct = Buffer.from(parts[2]!, 'base64url');
    ct[0]! ^= 1;
    expect(() => box.open([parts[0], parts[1], ct.toString('base64url'), parts[3]].join(':'), 'host_a')).toThrow();
    expect(() => box.open('v2:x:y:z', 'host_a')).toThrow();
  });

  it('keys: 64 hex digits or base64(url) of 32 bytes; from a file also 32 raw bytes', () => {
    const k = randomBytes(32);
    expect(parseSecretKey(k.toString('hex'))).toEqual(k);
    expect(parseSecretKey(k.toString('base64'))).toEqual(k);
    expect(parseSecretKey(k.toString('base64url'))).toEqual(k);
    expect(parseSecretKey(` ${k.toString('base64')}\n`)).toEqual(k);
    expect(parseSecretKey(k)).toEqual(k);
    expect(parseSecretKey(randomBytes(16).toString('hex'))).toBeNull();
    expect(parseSecretKey(randomBytes(31).toString('base64'))).toBeNull();
    expect(parseSecretKey('correct horse battery staple')).toBeNull();
  });

  it('a malformed key stops start-up with one line naming the variable and never quoting the value', () => {
    const bad = 'not-a-key-but-a-secret-anyway-12345';
    let msg = '';
    try {
      loadConfig({ NETPLUMB_SECRET_KEY: bad });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/NETPLUMB_SECRET_KEY/);
    expect(msg).not.toContain(bad);
    expect(msg).not.toContain('\n');
    const dir = mkdtempSync(join(tmpdir(), 'np-sk-'));
    try {
      const k = randomBytes(32);
      writeFileSync(join(dir, 'key'), k.toString('base64') + '\n', { mode: 0o600 });
      writeFileSync(join(dir, 'bad'), 'short\n');
      expect(loadConfig({ NETPLUMB_SECRET_KEY_FILE: join(dir, 'key') }).secretKey).toEqual(k);
      expect(loadConfig({ NETPLUMB_SECRET_KEY: k.toString('hex') }).secretKey).toEqual(k);
      expect(() => loadConfig({ NETPLUMB_SECRET_KEY_FILE: join(dir, 'bad') })).toThrow(/NETPLUMB_SECRET_KEY_FILE/);
      expect(() => loadConfig({ NETPLUMB_SECRET_KEY_FILE: join(dir, 'missing') })).toThrow(/NETPLUMB_SECRET_KEY_FILE.*ENOENT/);
      expect(() => loadSecretKey({ NETPLUMB_SECRET_KEY: k.toString('hex'), NETPLUMB_SECRET_KEY_FILE: join(dir, 'key') })).toThrow(
        /not both/,
      );
      expect(loadConfig({}).secretKey).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
