/** `netplumb tokens create|list|revoke` against a served API, and the CLI retrying a 429 after its Retry-After. */
import type { AddressInfo } from 'node:net';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/args.js';
import { run } from '../../src/cli/main.js';
import { expiryFrom } from '../../src/cli/tokens.js';
import type { Io } from '../../src/cli/topology.js';
import { serveApp } from '../../src/listen.js';
import { testApp } from '../helpers/app.js';

const BOOTSTRAP = 'cli-bootstrap-token-0123456789';

describe('netplumb tokens', async () => {
  const t = await testApp({ token: BOOTSTRAP, config: { rateLimit: { burst: 2, perSecond: 1 } } });
  let server: ServerType;
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serveApp(t.app, { port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const cli = async (token: string, ...argv: string[]) => {
    const o = { out: '', err: '' };
    const io: Io = {
      out: (s) => (o.out += `${s}\n`),
      err: (s) => (o.err += `${s}\n`),
      progressStream: { write: () => true },
      env: { NETPLUMB_URL: base, NETPLUMB_TOKEN: token },
    };
    return { code: await run(argv, io), ...o };
  };

  it('creates a token (printed once, alone), lists it without its secret, revokes it; the CLI waits out 429s', async () => {
    const made = await cli(
      BOOTSTRAP,
      'tokens',
      'create',
      'ci',
      '--scope',
      'write',
      '--topologies',
      'ci-*',
      '--host-label',
      'pool=ci',
      '--expires',
      '24h',
    );
    expect(made.code).toBe(EXIT.ok);
    const secret = made.out.trim();
    expect(secret).toMatch(/^np_[A-Za-z0-9_-]{43}$/);
    expect(made.err).toMatch(/shown once/);

    // One more request spends the bootstrap token's bucket (2, refilled at 1/s): the CLI's next request is answered
    // 429 and tried again after Retry-After.
    expect((await t.json('GET', '/hosts', undefined, { Authorization: `Bearer ${BOOTSTRAP}` })).status).toBe(200);
    const started = performance.now();
    const listed = await cli(BOOTSTRAP, 'tokens', 'list', '-o', 'json');
    expect(listed.code).toBe(EXIT.ok);
    const items = JSON.parse(listed.out) as { id: string; name: string; topologies: string[]; hostLabels: Record<string, string> }[];
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ name: 'ci', topologies: ['ci-*'], hostLabels: { pool: 'ci' } });
    expect(listed.out).not.toContain(secret);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);

    // The token itself cannot list tokens (admin): refused, exit 2, the problem names the scope.
    const denied = await cli(secret, 'tokens', 'list');
    expect(denied.code).toBe(EXIT.usage);
    expect(denied.err).toMatch(/admin/);

    expect((await cli(BOOTSTRAP, 'tokens', 'revoke', items[0]!.id)).code).toBe(EXIT.ok);
    const gone = await cli(secret, 'hosts', 'list');
    expect(gone.code).toBe(EXIT.usage);
    expect(gone.err).toMatch(/revoked/);
    expect(gone.err).not.toContain(secret);
  });

  it('--expires takes durations or a date-time; a bad scope is a usage error', async () => {
    expect(expiryFrom('2h', 0)).toBe('1970-01-01T02:00:00.000Z');
    expect(expiryFrom('2030-01-01T00:00:00Z')).toBe('2030-01-01T00:00:00.000Z');
    expect((await cli(BOOTSTRAP, 'tokens', 'create', 'x', '--scope', 'root')).code).toBe(EXIT.usage);
  });
});
