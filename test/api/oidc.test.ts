/**
 * CI identity (OIDC) with a local issuer: a discovery document and a JWKS served on loopback, keys made by jose. A
 * valid ID token becomes a principal with the mapped scopes and restrictions; every way a token can be wrong is a 401
 * whose problem says why, and never holds the token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWTPayload, type CryptoKey } from 'jose';
import { localHost, testApp } from '../helpers/app.js';
import type { OidcIssuer } from '../../src/model/principals.js';

let server: Server;
let issuer: string;
let key: CryptoKey;
let publicPem: string;
let stranger: CryptoKey;
let jwksHits = 0;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey;
  publicPem = await exportSPKI(pair.publicKey);
  stranger = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    else if (req.url === '/jwks') {
      jwksHits++;
      res.end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const AUDIENCE = 'https://netplumb.example';
const CLAIMS = { sub: 'repo:org/repo:ref:refs/heads/main', repository: 'org/repo', ref: 'refs/heads/main' };

function sign(
  over: { payload?: JWTPayload; iss?: string; aud?: string; exp?: number | string; nbf?: number; kid?: string; with?: CryptoKey } = {},
) {
  const jwt = new SignJWT({ ...CLAIMS, ...over.payload })
    .setProtectedHeader({ alg: 'RS256', kid: over.kid ?? 'k1' })
    .setIssuer(over.iss ?? issuer)
    .setAudience(over.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(over.exp ?? '5m');
  if (over.nbf !== undefined) jwt.setNotBefore(over.nbf);
  return jwt.sign(over.with ?? key);
}

async function world() {
  const config: OidcIssuer[] = [
    {
      name: 'gh',
      issuer,
      audience: AUDIENCE,
      rules: [{ claims: { repository: 'org/repo', ref: 'refs/heads/*' }, scopes: ['write'], topologies: ['ci-{repository}-*'] }],
    },
  ];
  const t = await testApp({ token: 'bootstrap-token-0123456789', config: { oidc: config } });
  t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
  const as = (token: string) => (method: string, path: string, body?: unknown) =>
    t.json(method, path, body, { Authorization: `Bearer ${token}` });
  return { ...t, as };
}

const LAN = {
  networks: { lan: { bridge: { type: 'ovs', name: 'lan0' }, subnet: '10.1.0.0/24', members: [{ host: 'docker1', container: 'web1' }] } },
};

describe('OIDC identity tokens', () => {
  it('a valid token is a principal with the mapped scope and topology prefix; the job names it with the claims used', async () => {
    const t = await world();
    const call = t.as(await sign());
    const ok = await call('PUT', '/topologies/ci-org-repo-pr1', LAN);
    expect(ok.status).toBe(201);
    const job = ((await ok.json()) as { job: { principal: unknown } }).job;
    expect(job.principal).toEqual({
      kind: 'oidc',
      id: `gh:${CLAIMS.sub}`,
      name: `gh:${CLAIMS.sub}`,
      claims: { sub: CLAIMS.sub, repository: 'org/repo', ref: 'refs/heads/main' },
    });
    const other = await call('PUT', '/topologies/prod-net', LAN);
    expect(other.status).toBe(403);
    expect(((await other.json()) as { missing: unknown }).missing).toEqual({ topology: 'prod-net' });
    expect((await call('POST', '/hosts', localHost('docker7'))).status).toBe(403);
    const jobs = (await (await t.json('GET', `/jobs?principal=${encodeURIComponent(`gh:${CLAIMS.sub}`)}`)).json()) as { items: unknown[] };
    expect(jobs.items).toHaveLength(1);
    // The JWKS was fetched once and cached across requests.
    expect(jwksHits).toBe(1);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['expired', () => sign({ exp: now() - 120 }), /has expired/],
    ['not valid yet', () => sign({ nbf: now() + 600 }), /not valid yet/],
    ['for another audience', () => sign({ aud: 'https://elsewhere' }), /another audience/],
    [
      'from an issuer not trusted',
      () => sign({ iss: 'https://token.actions.example' }),
      /issuer "https:\/\/token.actions.example" is not trusted/,
    ],
    ['with an unknown kid', () => sign({ kid: 'k-unknown', with: stranger }), /no key of the issuer matches/],
    ['signed by another key under the known kid', () => sign({ with: stranger }), /signature does not verify/],
    [
      'with alg none',
      () => Promise.resolve(new UnsecuredJWT({ ...CLAIMS }).setIssuer(issuer).setAudience(AUDIENCE).setExpirationTime('5m').encode()),
      /algorithm is not accepted|not a valid JWT|could not be verified/,
    ],
    [
      'HS256 signed with the public key',
      () =>
        new SignJWT({ ...CLAIMS })
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .setIssuer(issuer)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(publicPem)),
      /algorithm is not accepted/,
    ],
    ['whose claims no rule maps', () => sign({ payload: { repository: 'evil/repo' } }), /no rule for issuer gh/],
  ];

  it.each(cases)('a token %s is 401 with a problem saying why, without the token', async (_what, make, why) => {
    const t = await world();
    const token = await make();
    const before = (await t.store.listJobs({ limit: 100 })).items.length;
    const r = await t.as(token)('PUT', '/topologies/ci-org-repo-x', LAN);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const text = await r.text();
    expect((JSON.parse(text) as { detail: string }).detail).toMatch(why);
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(text).not.toContain(part);
    expect((await t.store.listJobs({ limit: 100 })).items.length).toBe(before);
  });
});
