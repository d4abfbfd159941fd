/**
 * What each operation needs, declared once on its route (`security: requires('write')`): the OpenAPI document carries
 * it as the bearer scheme's scopes, and the authorize middleware reads the same route definitions. So the document is
 * the one source of truth for scopes, and the scope matrix test (test/api/scopes.test.ts) is generated from it.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env, MiddlewareHandler } from 'hono';
import { grants, type Principal, type Scope, SCOPES } from '../model/principals.js';
import { problem, ProblemError } from '../model/problems.js';
import { checkPathReach } from './reach.js';
import { problemResponse } from './problems.js';
import { pathPattern } from './negotiation.js';
import { auditRefusal } from './audit/record.js';

/** A route's `security`: the bearer token (or OIDC identity) must hold this scope. */
export function requires(scope: Scope): { bearerAuth: string[] }[] {
  return [{ bearerAuth: [scope] }];
}

interface ScopedOperation {
  method: string;
  pattern: RegExp;
  literals: number;
  /** null: open (`security: []`). */
  scope: Scope | null;
}

/** The scope each operation declares (a route that declares none fails here, at the first request: a bug). */
export function scopedOperations<E extends Env>(api: OpenAPIHono<E>): ScopedOperation[] {
  const ops: ScopedOperation[] = [];
  for (const d of api.openAPIRegistry.definitions) {
    if (d.type !== 'route') continue;
    const security = d.route.security;
    if (!security) throw new Error(`${d.route.method.toUpperCase()} ${d.route.path} declares no security (scope): use requires()`);
    const scopes = security.flatMap((s) => Object.values(s).flat());
    const scope = scopes.length ? (scopes[0] as Scope) : null;
    if (scope !== null && !SCOPES.includes(scope)) throw new Error(`${d.route.path}: unknown scope ${scope}`);
    ops.push({ method: d.route.method.toUpperCase(), ...pathPattern(d.route.path), scope });
  }
  return ops.sort((a, b) => b.literals - a.literals);
}

/**
 * 403 `forbidden` naming the scope the principal lacks, before the handler (so before any job). A path the API does
 * not have passes on (404/405 follow). The principal is set by the bearer auth middleware (api/auth.ts).
 */
export function authorize<E extends Env>(api: OpenAPIHono<E>): MiddlewareHandler {
  let ops: ScopedOperation[] | null = null;
  return async (c, next) => {
    const principal = c.get('principal') as Principal | undefined;
    if (!principal) return next();
    ops ??= scopedOperations(api);
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const op = ops.find((o) => o.method === method && o.pattern.test(c.req.path));
    if (!op?.scope) return next();
    if (grants(principal.scopes, op.scope)) {
      // A change outside the principal's topologies is refused before its body is even read (api/reach.ts).
      if (method !== 'GET' && op.scope !== 'admin') {
        try {
          checkPathReach(principal, c.req.path);
        } catch (e) {
          if (!(e instanceof ProblemError)) throw e;
          await auditRefusal(c, principal, e.problem);
          return problemResponse(c, e.problem);
        }
      }
      return next();
    }
    const p = problem('forbidden', `${c.req.method} ${c.req.path} needs the \`${op.scope}\` scope, which ${principal.name} does not have`, {
      missing: { scope: op.scope },
    });
    await auditRefusal(c, principal, p);
    return problemResponse(c, p);
  };
}
