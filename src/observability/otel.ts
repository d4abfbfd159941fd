/**
 * Spans exported with the OpenTelemetry SDK (OTLP over HTTP, JSON) when OTEL_EXPORTER_OTLP_ENDPOINT is set. The SDK
 * is required here on first use (src/lazy.ts): a service without the variable never loads it. The SDK's own context
 * manager is not used: parents are passed explicitly from our scope (trace.ts), which also runs without the SDK.
 */
import { lazyModule } from '../lazy.js';
import type { Span, SpanContext, SpanOptions, Tracer } from './trace.js';

const otelApi = lazyModule<typeof import('@opentelemetry/api')>('@opentelemetry/api');
const sdkTrace = lazyModule<typeof import('@opentelemetry/sdk-trace-base')>('@opentelemetry/sdk-trace-base');
const otlpHttp = lazyModule<typeof import('@opentelemetry/exporter-trace-otlp-http')>('@opentelemetry/exporter-trace-otlp-http');
const resources = lazyModule<typeof import('@opentelemetry/resources')>('@opentelemetry/resources');

export interface OtlpOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  serviceName?: string;
  /** How long spans wait to be sent in one request (default 1000 ms). */
  delayMs?: number;
}

/** `<endpoint>/v1/traces`, as the OTLP exporter specification says for the signal-independent variable. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

export function otlpTracer(opts: OtlpOptions): Tracer {
  const api = otelApi();
  const { BasicTracerProvider, BatchSpanProcessor, RandomIdGenerator } = sdkTrace();
  const random = new RandomIdGenerator();
  // A root span whose trace id was chosen before the span (a job's, stored with it) takes that id: the next trace id
  // is handed to the generator just before startSpan, which asks for it synchronously.
  let nextTraceId: string | undefined;
  const idGenerator = {
    generateTraceId: () => {
      const id = nextTraceId ?? random.generateTraceId();
      nextTraceId = undefined;
      return id;
    },
    generateSpanId: () => random.generateSpanId(),
  };
  const provider = new BasicTracerProvider({
    resource: resources().resourceFromAttributes({ 'service.name': opts.serviceName ?? 'netplumb' }),
    idGenerator,
    spanProcessors: [
      new BatchSpanProcessor(new (otlpHttp().OTLPTraceExporter)({ url: tracesUrl(opts.endpoint) }), {
        scheduledDelayMillis: opts.delayMs ?? 1000,
      }),
    ],
  });
  const tracer = provider.getTracer('netplumb');
  const kinds = { server: api.SpanKind.SERVER, internal: api.SpanKind.INTERNAL, client: api.SpanKind.CLIENT } as const;

  return {
    exporting: true,
    startSpan(name: string, o: SpanOptions = {}): Span {
      const parent = o.parent
        ? api.trace.setSpanContext(api.ROOT_CONTEXT, {
            traceId: o.parent.traceId,
            spanId: o.parent.spanId,
            traceFlags: o.parent.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
            isRemote: true,
          })
        : api.ROOT_CONTEXT;
      nextTraceId = o.parent ? undefined : o.traceId;
      const span = tracer.startSpan(
        name,
        { kind: kinds[o.kind ?? 'internal'], ...(o.attributes ? { attributes: o.attributes } : {}) },
        parent,
      );
      nextTraceId = undefined;
      const sc = span.spanContext();
      const context: SpanContext = { traceId: sc.traceId, spanId: sc.spanId, sampled: (sc.traceFlags & api.TraceFlags.SAMPLED) !== 0 };
      return {
        context,
        setAttribute: (k, v) => void span.setAttribute(k, v),
        fail: (message) => void span.setStatus({ code: api.SpanStatusCode.ERROR, message }),
        end: () => span.end(),
      };
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
