import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeps } from '../../src/services.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { testApp } from '../helpers/app.js';
import { FakeWorld } from '../helpers/fake-host.js';
import { keyBody, testPrivateKey, testSecretKey } from '../helpers/keys.js';
import { createObservability } from '../../src/observability/index.js';

/** The service log of a createDeps, captured: start-up warnings go there. */
function serviceLog() {
  const lines: string[] = [];
  return {
    obs: createObservability({ logLevel: 'warn', logOut: { write: (l: string) => void lines.push(l) } }),
    text: () => lines.join(''),
  };
}

const sshHost = (name: string, privateKey: string) => ({
  name,
  executor: { kind: 'ssh', address: '192.0.2.10', hostKeySha256: 'SHA256:' + 'A'.repeat(43), privateKey },
});

/** Every 24-character piece of the key's base64 body: none may be anywhere in the files. */
function leaks(files: string[], pem: string): string[] {
  const body = keyBody(pem);
  const pieces = Array.from({ length: Math.floor(body.length / 24) }, (_, i) => body.slice(i * 24, i * 24 + 24));
  const found: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const bytes = readFileSync(f).toString('latin1');
    for (const p of pieces) if (bytes.includes(p)) found.push(`${f}: ${p}`);
  }
  return found;
}

const dbFiles = (db: string) => [db, `${db}-wal`, `${db}-shm`];

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-secrets-'));
  dirs.push(d);
  return d;
}

describe('secrets at rest (issue 9, finding 3)', () => {
  it('an inline private key is not found in the bytes of the database files; they are 0600 in a 0700 directory', async () => {
    const db = join(tmp(), 'state', 'np.db');
    const key = testPrivateKey();
    const t = await testApp({ dbPath: db, config: { secretKey: testSecretKey() } });
    const r = await t.json('POST', '/hosts', sshHost('remote', key));
    expect(r.status).toBe(201);
    const id = (await r.json()).id;
    expect(leaks(dbFiles(db), key)).toEqual([]);
    // The service still has the key when it connects.
    expect((await t.deps.store.getResource(id))!.secret).toEqual({ privateKey: key });
    // What the database holds: sealed, versioned.
    expect(String((await t.store.getResource(id))!.secret!.sealed)).toMatch(/^v1:/);
    await t.store.close();
    expect(leaks(dbFiles(db), key)).toEqual([]);
    for (const f of dbFiles(db)) if (existsSync(f)) expect((statSync(f).mode & 0o777).toString(8), f).toBe('600');
    expect((statSync(join(db, '..')).mode & 0o777).toString(8)).toBe('700');
  });

  it('without NETPLUMB_SECRET_KEY an inline key is refused with a 422 that says how to enable it; no job, no record', async () => {
    const t = await testApp();
    const r = await t.json('POST', '/hosts', sshHost('remote', testPrivateKey()));
    expect(r.status).toBe(422);
    const p = await r.json();
    expect(p.type).toBe('https://netplumb.dev/problems/validation');
    expect(p.errors[0].pointer).toBe('/executor/privateKey');
    expect(p.detail).toMatch(/NETPLUMB_SECRET_KEY/);
    expect(p.detail).toMatch(/privateKeyPath/);
    expect((await t.store.listJobs({ limit: 10 })).items).toHaveLength(0);
    expect((await t.store.listResources('host', { limit: 10 })).items).toHaveLength(0);
  });

  it('an inline key that is not a private key is refused (422 unusable-key)', async () => {
    const t = await testApp({ config: { secretKey: testSecretKey() } });
    const r = await t.json(
      'POST',
      '/hosts',
      sshHost('remote', '-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----'),
    );
    expect(r.status).toBe(422);
    expect((await r.json()).type).toBe('https://netplumb.dev/problems/unusable-key');
  });

  it('plain-text keys of an older database are read, and sealed in place once a key is configured', async () => {
    const db = join(tmp(), 'np.db');
    const key = testPrivateKey();
    const now = new Date().toISOString();
    const old = new SqliteStore(db);
    await old.insertResource({
      id: 'host_aaaaaaaaaaaaaaaaaaaa',
      type: 'host',
      key: 'old',
      state: 'ready',
      jobId: null,
      createdAt: now,
      updatedAt: now,
      data: {
        name: 'old',
        executor: { kind: 'ssh', address: '192.0.2.10', port: 22, user: 'root', hostKeySha256: 'SHA256:' + 'A'.repeat(43) },
        tunnelIp: null,
        docker: null,
        labels: {},
        facts: null,
      },
      secret: { privateKey: key },
    });
    await old.close();
    expect(leaks(dbFiles(db), key)).not.toEqual([]);

    // No key: still works (read as it is), and the operator is told (in the service log).
    const warned = serviceLog();
    const a = new SqliteStore(db);
    const depsA = await createDeps(
      a,
      { defaultWaitMs: 1000, idempotencyTtlMs: 1000, maxBodyBytes: 1 << 20 },
      new FakeWorld().factory(),
      undefined,
      warned.obs,
    );
    expect((await depsA.store.getResource('host_aaaaaaaaaaaaaaaaaaaa'))!.secret).toEqual({ privateKey: key });
    expect(warned.text()).toMatch(/plain text.*NETPLUMB_SECRET_KEY/);
    // A write that keeps the old secret (a probe updating facts) is allowed; the secret stays as it was.
    const rec = (await depsA.store.getResource('host_aaaaaaaaaaaaaaaaaaaa'))!;
    await depsA.store.updateResource({ ...rec, state: 'failed' });
    await a.close();

    // With a key: sealed at start-up, and the old bytes are gone from the files.
    const b = new SqliteStore(db);
    const depsB = await createDeps(
      b,
      { defaultWaitMs: 1000, idempotencyTtlMs: 1000, maxBodyBytes: 1 << 20, secretKey: testSecretKey() },
      new FakeWorld().factory(),
      undefined,
      warned.obs,
    );
    expect(warned.text()).toMatch(/sealed 1 secret/);
    expect(String((await b.getResource('host_aaaaaaaaaaaaaaaaaaaa'))!.secret!.sealed)).toMatch(/^v1:/);
    expect((await depsB.store.getResource('host_aaaaaaaaaaaaaaaaaaaa'))!.secret).toEqual({ privateKey: key });
    await b.close();
    expect(leaks(dbFiles(db), key)).toEqual([]);
  });

  it('a sealed key does not open under another key, nor moved to another host', async () => {
    const db = join(tmp(), 'np.db');
    const key = testPrivateKey();
    const t = await testApp({ dbPath: db, config: { secretKey: testSecretKey() } });
    const id = (await (await t.json('POST', '/hosts', sshHost('remote', key))).json()).id;
    const sealed = (await t.store.getResource(id))!.secret;
    const other = (await (await t.json('POST', '/hosts', sshHost('other', testPrivateKey()))).json()).id;
    await t.store.updateResource({ ...(await t.store.getResource(other))!, secret: sealed });
    expect((await t.deps.store.getResource(other))!.secret).toEqual(sealed); // still sealed: no key material
    await t.store.close();
    const warned = serviceLog();
    const s = new SqliteStore(db);
    const deps = await createDeps(
      s,
      { defaultWaitMs: 1000, idempotencyTtlMs: 1000, maxBodyBytes: 1 << 20, secretKey: testSecretKey() },
      new FakeWorld().factory(),
      undefined,
      warned.obs,
    );
    expect(warned.text()).toMatch(/cannot be opened with this NETPLUMB_SECRET_KEY/);
    expect((await deps.store.getResource(id))!.secret).not.toHaveProperty('privateKey');
    await s.close();
  });
});
