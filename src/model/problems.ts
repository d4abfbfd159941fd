/** RFC 9457 problem details: one stable `type` URI per kind of failure. */
export const PROBLEM_BASE = 'https://netplumb.dev/problems/';

/** How long a caller is told to wait before trying a host that did not answer again (the service re-probes it by itself). */
export const HOST_RETRY_AFTER_S = 10;

/**
 * Every kind of failure, its status and title, and `retryAfterS` where trying again later can help: such a problem
 * carries `retryAfter` (seconds) and its answer the same `Retry-After`. The rule for hosts (docs/http.md): a managed
 * host that fails is a gateway error, 502 (it refused, dropped or failed us) or 504 (it did not answer in time), never
 * the service's own 503, which means only that the service itself (its store) cannot serve right now.
 */
export const ProblemTypes = {
  validation: { status: 422, title: 'Request validation failed' },
  'malformed-json': { status: 400, title: 'Malformed JSON body' },
  'bad-request': { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'precondition-failed': { status: 412, title: 'Precondition failed: the resource changed since it was read' },
  'idempotency-in-progress': { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key reused with a different request' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'host-unreachable': { status: 502, title: 'Host unreachable', retryAfterS: HOST_RETRY_AFTER_S },
  'host-key-mismatch': { status: 502, title: 'SSH host key mismatch' },
  'command-failed': { status: 502, title: 'A command failed on a host' },
  'command-timeout': { status: 504, title: 'A command timed out on a host', retryAfterS: HOST_RETRY_AFTER_S },
  'dhcp-no-lease': { status: 504, title: 'No DHCP lease from the segment' },
  'container-not-found': { status: 404, title: 'Container not found' },
  'container-not-running': { status: 409, title: 'Container not running' },
  'job-interrupted': { status: 500, title: 'Job interrupted' },
  timeout: { status: 504, title: 'The job waited past its bound', retryAfterS: HOST_RETRY_AFTER_S },
  'storage-unavailable': { status: 503, title: 'The store cannot save changes right now', retryAfterS: 5 },
  'shutting-down': { status: 503, title: 'This replica is shutting down', retryAfterS: 1 },
  'unusable-key': { status: 422, title: 'The SSH private key cannot be used' },
  'misdirected-request': { status: 421, title: 'Host header not served here' },
  'forbidden-origin': { status: 403, title: 'Cross-origin request refused' },
  forbidden: { status: 403, title: 'Not allowed for this principal' },
  'rate-limited': { status: 429, title: 'Too many requests', retryAfterS: 1 },
  'invalid-cursor': { status: 400, title: 'Invalid page cursor' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'not-acceptable': { status: 406, title: 'Not acceptable' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string; retryAfterS?: number }>;

export type ProblemKind = keyof typeof ProblemTypes;

export interface FieldError {
  pointer: string;
  detail: string;
  /** Where the field is when it is not in the body (RFC 9457 extension: header, query, path). */
  in?: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  jobId?: string;
  /** Seconds after which trying again may succeed; answered as `Retry-After` too. */
  retryAfter?: number;
  [ext: string]: unknown;
}

const retryAfterOf = (t: { status: number; retryAfterS?: number }): { retryAfter?: number } =>
  t.retryAfterS === undefined ? {} : { retryAfter: t.retryAfterS };

export function problem(kind: ProblemKind, detail: string, ext: Record<string, unknown> = {}): Problem {
  const t = ProblemTypes[kind];
  return { type: PROBLEM_BASE + kind, title: t.title, status: t.status, detail, ...retryAfterOf(t), ...ext };
}

/** The kind of a problem type URI, when it is one of ours. */
export function problemKind(type: string): ProblemKind | null {
  const kind = type.startsWith(PROBLEM_BASE) ? type.slice(PROBLEM_BASE.length) : '';
  return Object.hasOwn(ProblemTypes, kind) ? (kind as ProblemKind) : null;
}

/** Thrown anywhere below the API; the API turns it into a problem response. */
export class ProblemError extends Error {
  readonly problem: Problem;
  constructor(kind: ProblemKind, detail: string, ext: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(detail, options);
    this.name = 'ProblemError';
    this.problem = problem(kind, detail, ext);
  }
  /** Re-throws a problem recorded earlier (e.g. in host facts). */
  static from(p: Problem): ProblemError {
    return new RecordedProblemError(p);
  }
  static validation(errors: FieldError[], detail?: string): ProblemError {
    return new ProblemError('validation', detail ?? errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '), { errors });
  }
}

/**
 * A problem recorded earlier, thrown again as it was, with the status (and Retry-After) its kind has now: a host's
 * last probe recorded before host failures became gateway errors still answers as one.
 */
class RecordedProblemError extends ProblemError {
  override readonly problem: Problem;
  constructor(p: Problem) {
    super('internal', p.detail);
    const kind = problemKind(p.type);
    this.problem = kind ? { ...p, status: ProblemTypes[kind].status, ...retryAfterOf(ProblemTypes[kind]) } : { ...p };
  }
}

export function isProblemError(e: unknown): e is ProblemError {
  return e instanceof ProblemError;
}
