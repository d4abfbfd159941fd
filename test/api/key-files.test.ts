import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app.js';
import { ExecError } from '../../src/exec/errors.js';
import { readPrivateKeyFile, UnusableKeyError } from '../../src/exec/keys.js';
import { SshExecutor } from '../../src/exec/ssh.js';
import { createDeps } from '../../src/services.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { testApp } from '../helpers/app.js';
import { checkedAgainstSpec } from '../helpers/contract.js';
import { testPrivateKey } from '../helpers/keys.js';

const FP = 'SHA256:' + 'A'.repeat(43);
const body = (name: string, privateKeyPath: string, extra: Record<string, unknown> = {}) => ({
  name,
  executor: { kind: 'ssh', address: '192.0.2.1', hostKeySha256: FP, privateKeyPath, ...extra },
});

let root: string;
let keyDir: string;
let outside: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'np-keyfiles-'));
  keyDir = join(root, 'keys');
  outside = join(root, 'elsewhere');
  mkdirSync(keyDir, { mode: 0o700 });
  mkdirSync(outside);
  writeFileSync(join(keyDir, 'good'), testPrivateKey(), { mode: 0o600 });
  writeFileSync(join(outside, 'stolen'), testPrivateKey(), { mode: 0o600 });
  symlinkSync('/etc/shadow', join(keyDir, 'shadow'));
  symlinkSync(join(outside, 'stolen'), join(keyDir, 'out'));
  symlinkSync(join(keyDir, 'good'), join(keyDir, 'alias'));
  symlinkSync(outside, join(keyDir, 'subdir'));
  mkdirSync(join(keyDir, 'adir'));
  writeFileSync(join(keyDir, 'garbage'), 'this is not a key\n');
  writeFileSync(join(outside, 'garbage'), 'this is not a key\n');
  execFileSync('mkfifo', [join(outside, 'fifo')]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('key files (issue 9, finding 4)', () => {
  it('a symlink inside NETPLUMB_KEY_DIR pointing out of it (to /etc/shadow, or to a key elsewhere) is refused: 422 unusable-key, no job', async () => {
    const { json, store, world } = await testApp({ config: { keyDir } });
    for (const p of [join(keyDir, 'shadow'), join(keyDir, 'out'), join(keyDir, 'subdir', 'stolen')]) {
      const r = await json('POST', '/hosts', body('k', p));
      expect(r.status, p).toBe(422);
      const problem = await r.json();
      expect(problem.type, p).toBe('https://netplumb.dev/problems/unusable-key');
      expect(problem.errors[0].pointer).toBe('/executor/privateKeyPath');
    }
    expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
    expect(world.calls).toHaveLength(0);
    // A link that stays inside the directory is fine.
    expect((await json('POST', '/hosts', body('alias', join(keyDir, 'alias')))).status).toBe(201);
  });

  it('every failure to use a key file reads the same: missing, a directory, a FIFO, unparsable, /etc/shadow, outside the directory', async () => {
    for (const dir of [undefined, keyDir]) {
      const { json, store } = await testApp({ config: { keyDir: dir } });
      const paths = [
        join(keyDir, 'missing'),
        join(keyDir, 'adir'),
        join(outside, 'fifo'),
        join(keyDir, 'garbage'),
        join(outside, 'garbage'),
        '/etc/shadow',
        join(outside, 'nope', 'deeper'),
      ];
      const details = new Set<string>();
      for (const p of paths) {
        const r = await json('POST', '/hosts', body('k', p));
        expect(r.status, p).toBe(422);
        const problem = await r.json();
        expect(problem.type, p).toBe('https://netplumb.dev/problems/unusable-key');
        details.add(JSON.stringify({ detail: problem.detail, errors: problem.errors, title: problem.title }));
        expect(problem.detail).not.toMatch(/ENOENT|EISDIR|EACCES|ELOOP|Unsupported|format of|shadow/);
      }
      expect(details.size, `keyDir ${dir}`).toBe(1);
      expect((await store.listJobs({ limit: 10 })).items).toHaveLength(0);
    }
  });

  it('readPrivateKeyFile: the real path is checked against the real key directory; the file opened is a regular file', async () => {
    await expect(readPrivateKeyFile(join(keyDir, 'good'), { keyDir })).resolves.toContain('PRIVATE KEY');
    await expect(readPrivateKeyFile(join(keyDir, 'alias'), { keyDir })).resolves.toContain('PRIVATE KEY');
    // The key directory itself through a symlink: compared by real paths on both sides.
    const linkDir = join(root, 'keys-link');
    symlinkSync(keyDir, linkDir);
    await expect(readPrivateKeyFile(join(linkDir, 'good'), { keyDir })).resolves.toContain('PRIVATE KEY');
    await expect(readPrivateKeyFile(join(keyDir, 'good'), { keyDir: linkDir })).resolves.toContain('PRIVATE KEY');
    for (const p of ['shadow', 'out', 'adir', 'garbage', 'missing']) {
      const e = await readPrivateKeyFile(join(keyDir, p), { keyDir }).catch((x: unknown) => x);
      expect(e, p).toBeInstanceOf(UnusableKeyError);
    }
  });

  it('at connect time too: the SSH executor refuses a link out of the directory before any connection, with the same message', async () => {
    const exec = (privateKeyPath: string) =>
      new SshExecutor({ address: '192.0.2.1', hostKeySha256: FP, privateKeyPath, keyDir, connectTimeoutMs: 200 });
    const errs = await Promise.all(
      ['shadow', 'out', 'missing', 'adir'].map((p) =>
        exec(join(keyDir, p))
          .run(['true'])
          .catch((e: unknown) => e),
      ),
    );
    for (const e of errs) {
      expect(e).toBeInstanceOf(ExecError);
      expect((e as ExecError).code).toBe('auth-failed');
    }
    expect(new Set(errs.map((e) => (e as Error).message)).size).toBe(1);
  });

  it('a key file swapped for a link out of the directory after registration fails the job with 422 unusable-key, not 502', async () => {
    const store = new SqliteStore(':memory:');
    const deps = await createDeps(store, { defaultWaitMs: 10_000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20, keyDir });
    const app = checkedAgainstSpec(createApp(deps));
    const keyPath = join(keyDir, 'rotating');
    writeFileSync(keyPath, testPrivateKey(), { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    const post = (path: string, b?: unknown) =>
      app.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, ...(b ? { body: JSON.stringify(b) } : {}) });
    try {
      // Port 1 on loopback: nothing listens, so the probe ends quickly as unreachable (the key itself was fine).
      const created = await post('/hosts', body('h1', keyPath, { address: '127.0.0.1', port: 1 }));
      expect(created.status).toBe(502);
      expect((await created.json()).type).toBe('https://netplumb.dev/problems/host-unreachable');
      unlinkSync(keyPath);
      symlinkSync(join(outside, 'stolen'), keyPath);
      const probe = await post('/hosts/h1/probe');
      const p = await probe.json();
      expect(probe.status, JSON.stringify(p)).toBe(422);
      expect(p.type).toBe('https://netplumb.dev/problems/unusable-key');
      expect(p.detail).not.toContain(outside);
    } finally {
      await deps.runner.drain();
      await deps.hosts.closeAll();
      await store.close();
    }
  });
});
