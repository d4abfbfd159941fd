/**
 * Trace context: W3C `traceparent` in and out, and what is running now (request, job, host) carried through awaits by
 * one AsyncLocalStorage, so log lines, jobs and batch spans pick it up without passing it through every signature.
 * Spans are made by a Tracer: the no-op one below (ids only, nothing kept) unless OTEL_EXPORTER_OTLP_ENDPOINT is set
 * (otel.ts, which loads the OpenTelemetry SDK on first use).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

export interface SpanContext {
  traceId: string;
  spanId: string;
  /** The `sampled` flag of the traceparent (01). */
  sampled: boolean;
}

/** What runs now: the span to parent new spans on, and the ids log lines carry. */
export interface Scope {
  span: SpanContext;
  requestId?: string;
  jobId?: string;
}

export type SpanKind = 'server' | 'internal' | 'client';

export interface SpanOptions {
  /** The span's parent (a request's span, an incoming traceparent); none: a root span. */
  parent?: SpanContext | undefined;
  /** A root span's trace id, when it must be one chosen earlier (a job whose trace id was stored at insert). */
  traceId?: string | undefined;
  kind?: SpanKind;
  attributes?: Record<string, string | number | boolean>;
}

export interface Span {
  readonly context: SpanContext;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Marks the span failed, with a short message (never a secret: callers pass redacted text). */
  fail(message: string): void;
  end(): void;
}

export interface Tracer {
  /** True when spans are exported somewhere. */
  readonly exporting: boolean;
  startSpan(name: string, opts?: SpanOptions): Span;
  /** Sends what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** A W3C traceparent header, or null when it is absent or malformed (then a new trace starts). */
export function parseTraceparent(header: string | undefined | null): SpanContext | null {
  if (!header) return null;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  // Version ff is invalid; version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && rest)) return null;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return null;
  return { traceId: traceId!, spanId: spanId!, sampled: (parseInt(flags!, 16) & 1) === 1 };
}

export function formatTraceparent(s: SpanContext): string {
  return `00-${s.traceId}-${s.spanId}-${s.sampled ? '01' : '00'}`;
}

export const newTraceId = (): string => randomBytes(16).toString('hex');
export const newSpanId = (): string => randomBytes(8).toString('hex');

const current = new AsyncLocalStorage<Scope>();

/** The scope of the request or job this code runs for, if any. */
export function currentScope(): Scope | undefined {
  return current.getStore();
}

/** Runs fn (and everything it awaits) in a scope; fields not given are inherited from the enclosing one. */
export function inScope<T>(scope: Partial<Scope> & { span: SpanContext }, fn: () => T): T {
  return current.run({ ...current.getStore(), ...scope }, fn);
}

/** Ids only: trace ids still flow (headers, jobs, logs), nothing is recorded or sent. */
export const noopTracer: Tracer = {
  exporting: false,
  startSpan(_name, opts = {}) {
    const context: SpanContext = {
      traceId: opts.parent?.traceId ?? opts.traceId ?? newTraceId(),
      spanId: newSpanId(),
      sampled: opts.parent?.sampled ?? true,
    };
    return { context, setAttribute: () => {}, fail: () => {}, end: () => {} };
  },
  flush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
