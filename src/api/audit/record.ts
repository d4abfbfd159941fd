/** The audit log: token and host changes, and refused requests (403), each with its principal and trace id. */
import type { Context } from 'hono';
import { currentScope } from '../../observability/trace.js';
import type { Principal } from '../../model/principals.js';
import type { Problem } from '../../model/problems.js';
import type { Store } from '../../store/types.js';
import type { Env } from '../common.js';

/** Job kinds that are host changes: audited when the job is made (in the job's own transaction). */
export const AUDITED_JOB_KINDS = /^host\./;

export async function audit(store: Store, action: string, principalId: string, detail: Record<string, unknown>): Promise<void> {
  await store.appendAudit({ ts: new Date().toISOString(), action, principal: principalId, data: detail });
}

/** The request's trace id (the telemetry middleware's scope), for the audit entry. */
export function currentTraceId(): string | null {
  return currentScope()?.span.traceId ?? null;
}

/**
 * A 403 is written to the audit log. A store that cannot write does not turn the 403 into a 503: the refusal is
 * answered all the same, and the failure goes to the service log.
 */
export async function auditRefusal(c: Context, principal: Principal, p: Problem): Promise<void> {
  const deps = (c as Context<Env>).get('deps');
  try {
    await audit(deps.store, 'request.refused', principal.id, {
      method: c.req.method,
      path: c.req.path,
      reason: p.detail,
      ...(p.missing ? { missing: p.missing } : {}),
      traceId: currentTraceId(),
    });
  } catch (err) {
    deps.obs.logger.error({ err }, 'could not write a refusal to the audit log');
  }
}
