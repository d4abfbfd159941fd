/** Idempotency-Key (IETF httpapi draft): same key + same request → the stored response, work runs once. */
import type { Env } from './common.js';
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { ProblemError } from '../model/problems.js';
import type { StoredResponse, Store } from '../store/types.js';

export const MAX_KEY_LENGTH = 255;

/** JSON with object keys sorted at every depth: two spellings of one body fingerprint alike. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export async function fingerprint(c: Context): Promise<string> {
  const url = new URL(c.req.url);
  let body = '';
  const text = await c.req.text();
  if (text.trim()) {
    try {
      body = canonicalJson(JSON.parse(text));
    } catch {
      body = text;
    }
  }
  // A key belongs to its principal: another token (or CI identity) sending the same key and request is answered as a
  // reused key (422), never with the first one's stored answer. The bootstrap and anonymous principals add nothing, so
  // keys stored before principals existed still replay.
  const principal = (c as Context<Env>).get('principal');
  const who = principal && (principal.kind === 'token' || principal.kind === 'oidc') ? `\n${principal.id}` : '';
  return createHash('sha256').update(`${c.req.method}\n${url.pathname}${url.search}\n${body}${who}`).digest('hex');
}

export function readKey(c: Context): string | null {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return null;
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw ProblemError.validation([
      { pointer: '/Idempotency-Key', detail: `Idempotency-Key must be 1-${MAX_KEY_LENGTH} characters`, in: 'header' },
    ]);
  }
  return key;
}

export type IdempotencyCheck = { kind: 'new' } | { kind: 'replay'; response: StoredResponse };

/** Must run inside the same transaction that creates the job (see mutate()). */
export async function checkKey(store: Store, key: string, fp: string): Promise<IdempotencyCheck> {
  const rec = await store.getIdempotency(key);
  if (!rec || rec.expiresAt < new Date().toISOString()) return { kind: 'new' };
  if (rec.fingerprint !== fp) {
    throw new ProblemError('idempotency-key-reused', 'this Idempotency-Key was used with a different request (method, path or body)');
  }
  if (rec.response) return { kind: 'replay', response: rec.response };
  throw new ProblemError(
    'idempotency-in-progress',
    `the first request with this Idempotency-Key is still running (job ${rec.jobId})`,
    rec.jobId ? { jobId: rec.jobId } : {},
  );
}

export function replay(r: StoredResponse): Response {
  const headers = new Headers(r.headers);
  headers.set('Idempotency-Replayed', 'true');
  return new Response(r.body, { status: r.status, headers });
}
