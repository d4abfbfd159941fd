/**
 * CI identity: an OIDC ID token (GitHub Actions, GitLab `id_tokens`) as the bearer. jose verifies the signature
 * against the issuer's JWKS (fetched from its discovery document, cached by jose and refreshed on an unknown `kid`),
 * the issuer, the audience, expiry and not-before; only asymmetric algorithms are taken, so `alg: none` and an
 * HS256 token "signed" with the public key are refused. The claims are then mapped to a principal by NETPLUMB_OIDC.
 */
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { OidcIssuer, Principal } from '../model/principals.js';

/** Asymmetric algorithms only (RFC 8725 §3.1: the verifier decides the algorithm, never the token). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Leeway for clocks that differ a little (exp, nbf, iat). */
const CLOCK_TOLERANCE_S = 30;

/** Why an identity token was refused: the 401's detail (never the token). */
export class OidcRefusal extends Error {}

/** Looks like a JWT: three base64url parts. */
export const looksLikeJwt = (s: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s);

type KeySet = ReturnType<typeof createRemoteJWKSet>;

export class OidcVerifier {
  private readonly keySets = new Map<string, Promise<KeySet>>();

  constructor(private readonly issuers: readonly OidcIssuer[]) {}

  get enabled(): boolean {
    return this.issuers.length > 0;
  }

  /** The JWKS of an issuer: from its config, or its discovery document (fetched once; again after a failure). */
  private keySet(i: OidcIssuer): Promise<KeySet> {
    let ks = this.keySets.get(i.issuer);
    if (!ks) {
      ks = (async () => {
        let uri = i.jwksUri;
        if (!uri) {
          const url = `${i.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
          const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
          if (!res.ok) throw new OidcRefusal(`the issuer's discovery document (${url}) answered ${res.status}`);
          uri = ((await res.json()) as { jwks_uri?: string }).jwks_uri;
          if (!uri) throw new OidcRefusal(`the issuer's discovery document (${url}) names no jwks_uri`);
        }
        return createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      })();
      this.keySets.set(i.issuer, ks);
      ks.catch(() => this.keySets.delete(i.issuer));
    }
    return ks;
  }

  /** The principal this ID token stands for; OidcRefusal saying why not. */
  async verify(token: string): Promise<Principal> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new OidcRefusal('the bearer token is not a valid JWT');
    }
    const issuer = this.issuers.find((i) => i.issuer === unverified.iss);
    if (!issuer) throw new OidcRefusal(`the token's issuer ${JSON.stringify(String(unverified.iss ?? ''))} is not trusted`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (e) {
      throw new OidcRefusal(reason(e));
    }
    return mapClaims(issuer, payload);
  }
}

function reason(e: unknown): string {
  if (e instanceof OidcRefusal) return e.message;
  if (e instanceof errors.JWTExpired) return 'the identity token has expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return 'the identity token is for another audience';
    if (e.claim === 'iss') return "the identity token's issuer is not the one trusted";
    if (e.claim === 'nbf') return 'the identity token is not valid yet (nbf)';
    return `the identity token's ${e.claim} claim is not valid (${e.reason})`;
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return "the identity token's algorithm is not accepted (asymmetric signatures only)";
  if (e instanceof errors.JWKSNoMatchingKey) return "no key of the issuer matches the identity token's kid";
  if (e instanceof errors.JWSSignatureVerificationFailed) return "the identity token's signature does not verify";
  if (e instanceof errors.JWKSTimeout || e instanceof errors.JOSEError) return `the identity token could not be verified (${e.code})`;
  return "the identity token could not be verified: the issuer's keys could not be read";
}

const asName = (v: string) =>
  v
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');

const claimMatches = (want: string, have: unknown) =>
  typeof have === 'string' && (want.endsWith('*') ? have.startsWith(want.slice(0, -1)) : have === want);

/** The first rule whose claims all match; its `{claim}` placeholders filled in. */
export function mapClaims(issuer: OidcIssuer, payload: JWTPayload): Principal {
  const sub = String(payload.sub);
  const rule = issuer.rules.find((r) => Object.entries(r.claims).every(([k, v]) => claimMatches(v, payload[k])));
  if (!rule) throw new OidcRefusal(`the identity is valid, but no rule for issuer ${issuer.name} in NETPLUMB_OIDC maps it (sub ${sub})`);
  const used: Record<string, string> = { sub };
  for (const k of Object.keys(rule.claims)) used[k] = String(payload[k]);
  const topologies = rule.topologies?.map((t) =>
    t.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, claim: string) => {
      const v = payload[claim];
      if (typeof v !== 'string' || !asName(v))
        throw new OidcRefusal(`the identity token has no ${claim} claim for the topology pattern ${t}`);
      used[claim] = v;
      return asName(v);
    }),
  );
  return {
    kind: 'oidc',
    id: `${issuer.name}:${sub}`,
    name: `${issuer.name}:${sub}`,
    scopes: [...rule.scopes],
    ...(topologies ? { topologies } : {}),
    ...(rule.hostLabels ? { hostLabels: rule.hostLabels } : {}),
    claims: used,
  };
}
