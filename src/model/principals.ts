/**
 * Who calls: principals (API tokens, CI identities from OIDC, the bootstrap token), their scopes and restrictions, and
 * the audit log's entries (issue 29). What each operation needs is declared on its route (api/scopes.ts).
 */
import { z } from '@hono/zod-openapi';
import { Labels } from './names.js';
import { EXAMPLE_IDS, idSchema } from './names.js';
import { Timestamp } from './formats.js';

/**
 * `read`: every GET. `write`: mutations of bridges, attachments, tunnels, topologies, repairs. `hosts`: register,
 * probe and remove hosts, orphans. `admin`: tokens, the audit log, everything. `write` and `hosts` include `read`.
 */
export const SCOPES = ['read', 'write', 'hosts', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export const ScopeSchema = z.enum(SCOPES);

/** The scopes a held scope carries with it. */
const IMPLIES: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  write: ['write', 'read'],
  hosts: ['hosts', 'read'],
  admin: SCOPES,
};

export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.some((s) => IMPLIES[s].includes(needed));
}

/** A topology name, or a prefix of names ending in `*` (`ci-*`). */
export const TopologyPattern = z
  .string()
  .max(33)
  .regex(/^[a-z][a-z0-9-]{0,31}\*?$|^\*$/, 'a topology name (1-32 of [a-z0-9-], starting with a letter), or a prefix of one ending in *')
  .openapi({ example: 'ci-*' });

/** Where a principal may act: no restriction is everywhere. */
export const RestrictionsSchema = z.object({
  topologies: z
    .array(TopologyPattern)
    .max(32)
    .optional()
    .openapi({
      description:
        'Only these topologies (names, or prefixes ending in `*`). A principal with this restriction changes topologies only: not bridges, attachments or tunnels directly.',
      example: ['ci-*'],
    }),
  hostLabels: Labels.optional().openapi({
    description: 'Only hosts carrying all these labels (`pool: ci`): every host a job touches, and a host registered, must have them',
    example: { pool: 'ci' },
  }),
});
export type Restrictions = z.infer<typeof RestrictionsSchema>;

export interface Principal extends Restrictions {
  kind: 'token' | 'oidc' | 'bootstrap' | 'anonymous';
  /** What jobs and audit entries name it by: a token's id, `<issuer name>:<sub>` for OIDC, `bootstrap`, `anonymous`. */
  id: string;
  name: string;
  scopes: Scope[];
  /** OIDC: the claims the mapping used (never the token). */
  claims?: Record<string, string>;
}

export function topologyAllowed(p: Restrictions, name: string): boolean {
  if (!p.topologies) return true;
  return p.topologies.some((t) => (t.endsWith('*') ? name.startsWith(t.slice(0, -1)) : name === t));
}

/** The label a host lacks for this principal (`pool=ci`), or null when it has them all. */
export function missingHostLabel(p: Restrictions, labels: Record<string, string> | undefined): string | null {
  for (const [k, v] of Object.entries(p.hostLabels ?? {})) if (labels?.[k] !== v) return `${k}=${v}`;
  return null;
}

/** A principal as jobs and audit entries show it (no restrictions: those belong to the token). */
export const PrincipalRefSchema = z
  .object({
    kind: z.enum(['token', 'oidc', 'bootstrap', 'anonymous']),
    id: z.string().max(300).openapi({ example: EXAMPLE_IDS.token }),
    name: z.string().max(300).openapi({ example: 'ci-pipeline' }),
    claims: z
      .record(z.string().max(64), z.string().max(300))
      .optional()
      .openapi({ description: 'OIDC: the claims the identity was mapped from', example: { repository: 'org/repo' } }),
  })
  .openapi('PrincipalRef', { description: 'Who asked: an API token, a CI identity (OIDC), or the bootstrap token' });
export type PrincipalRef = z.infer<typeof PrincipalRefSchema>;

export function principalRef(p: Principal): PrincipalRef {
  return { kind: p.kind, id: p.id, name: p.name, ...(p.claims ? { claims: p.claims } : {}) };
}

const TokenName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, '1-63 of [A-Za-z0-9_.-], starting with a letter or digit')
  .openapi({ example: 'ci-pipeline' });

export const TokenCreateSchema = z
  .object({
    name: TokenName,
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .max(4)
      .openapi({ example: ['write'] }),
    expiresAt: Timestamp.optional().openapi({ description: 'when it stops working (none: until revoked)' }),
  })
  .extend(RestrictionsSchema.shape)
  .strict()
  .openapi('TokenCreate');

export const TokenSchema = z
  .object({
    id: idSchema('token'),
    name: TokenName,
    scopes: z.array(ScopeSchema).max(4),
    topologies: z.array(TopologyPattern).max(32).nullable(),
    hostLabels: z.record(z.string().max(63), z.string().max(255)).nullable(),
    prefix: z.string().max(12).openapi({
      pattern: '^np_[A-Za-z0-9_-]{1,9}$',
      description: 'the first characters of the token, to recognise it',
      example: 'np_Xk3v9',
    }),
    createdAt: Timestamp,
    createdBy: z.string().max(300).openapi({ description: 'the principal that made it (its id)' }),
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
  })
  .openapi('Token');
export type TokenView = z.infer<typeof TokenSchema>;

export const TokenCreatedSchema = TokenSchema.extend({
  token: z.string().max(64).openapi({
    pattern: '^np_[A-Za-z0-9_-]{43}$',
    description: 'The token itself: shown this once, never again (the service keeps only its SHA-256)',
    example: 'np_Xk3v9mQ2sZ8hL0pW4rT6yU1iO5aE7dF9gH2jK4lN6bV',
  }),
}).openapi('TokenCreated');

export const AuditEntrySchema = z
  .object({
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    ts: Timestamp,
    action: z.string().max(64).openapi({
      description:
        '`token.create`, `token.revoke`, `host.create`, `host.delete`, `host.probe`, `host.repair`, `host.orphans.delete`, or `request.refused` (a 403)',
      example: 'token.create',
    }),
    principal: z.string().max(300).openapi({ description: 'who did it (or was refused): the principal id', example: EXAMPLE_IDS.token }),
    detail: z.record(z.string(), z.unknown()).openapi({ description: 'what was done: the target, the job, the trace id, the reason' }),
  })
  .openapi('AuditEntry');

/**
 * A trusted OIDC issuer (NETPLUMB_OIDC, a JSON array of these): a CI system's ID tokens become principals. The first
 * rule whose `claims` all match (exact, or a prefix ending in `*`) gives the scopes and restrictions; `{claim}` in a
 * topology pattern is replaced by that claim's value made a name (`ci-{repository}-*` → `ci-org-repo-*`).
 */
export const OidcIssuerSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a short name: 1-32 of [a-z0-9-]'),
    issuer: z.string().url(),
    audience: z.string().min(1).max(300),
    /** Where the keys are; default: the issuer's discovery document's `jwks_uri`. */
    jwksUri: z.string().url().optional(),
    rules: z
      .array(
        z
          .object({
            claims: z.record(z.string().max(64), z.string().max(300)),
            scopes: z.array(ScopeSchema).min(1),
            topologies: z
              .array(
                z
                  .string()
                  .max(128)
                  .regex(/^[a-z{][a-z0-9{}_-]*\*?$/, 'a topology pattern, with {claim} placeholders'),
              )
              .optional(),
            hostLabels: Labels.optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
export type OidcIssuer = z.infer<typeof OidcIssuerSchema>;
