/**
 * Metrics, logs and traces of one app, made together and injected through createDeps (never globals: several apps
 * in one process each have their own). The layers report to it through small interfaces: the pool's ExecObserver
 * (batches), the store's call observer, the runner's job events; the API mounts /metrics and the request middleware.
 */
import { performance } from 'node:perf_hooks';
import type { ExecObserver } from '../exec/pool.js';
import { Redactor } from '../redact.js';
import { isStorageFault } from '../store/faults.js';
import { createLogger, type Logger, type LogLevel } from './logger.js';
import { Metrics } from './metrics.js';
import { otlpTracer } from './otel.js';
import { currentScope, noopTracer, type Tracer } from './trace.js';

export interface ObservabilityOptions {
  /** NETPLUMB_LOG_LEVEL (default info). */
  logLevel?: LogLevel;
  /** Where log lines go (default stdout); `pretty` default: when it is a terminal. */
  logOut?: { write(line: string): unknown; isTTY?: boolean };
  pretty?: boolean;
  /** The secrets kept out of every log line (shared with the job logs: createDeps passes the runner's). */
  redactor?: Redactor;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans exported there; unset, no OpenTelemetry code is even loaded. */
  otlpEndpoint?: string | undefined;
  /** The process's own CPU, memory and event-loop metrics (a service process; not in tests). */
  processMetrics?: boolean;
}

export interface Observability {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tracer: Tracer;
  readonly redactor: Redactor;
  /** Reports batches to metrics and spans (HostPool). */
  readonly exec: ExecObserver;
  /** Times store calls and counts storage faults (store/timed.ts). */
  storeCall(op: string, seconds: number, error?: unknown): void;
  /** Replicas: this process took or lost the lead of the reconcile loop. */
  setLeader(leading: boolean): void;
  /** Sends buffered spans and stops the exporter. */
  close(): Promise<void>;
}

export function createObservability(o: ObservabilityOptions = {}): Observability {
  const redactor = o.redactor ?? new Redactor();
  const metrics = new Metrics({ processMetrics: o.processMetrics ?? false });
  const logger = createLogger({
    level: o.logLevel ?? 'info',
    redactor,
    ...(o.logOut ? { out: o.logOut } : {}),
    ...(o.pretty !== undefined ? { pretty: o.pretty } : {}),
  });
  const tracer = o.otlpEndpoint ? otlpTracer({ endpoint: o.otlpEndpoint }) : noopTracer;
  let leading: boolean | undefined;
  metrics.setSources({ leader: () => leading });

  const exec: ExecObserver = {
    sent(host, commands, kind) {
      metrics.batches.inc({ host });
      metrics.commands.inc({ host }, commands);
      const started = performance.now();
      const scope = currentScope();
      // A batch span only under a job or request (a scrape-time probe is not worth a trace of its own).
      const span =
        scope && tracer.exporting
          ? tracer.startSpan(`${kind} ${host}`, {
              parent: scope.span,
              kind: 'client',
              attributes: { 'netplumb.host': host, 'netplumb.commands': commands },
            })
          : null;
      return (error) => {
        metrics.batchDuration.observe({ host }, (performance.now() - started) / 1000);
        if (error !== undefined) {
          metrics.hostErrors.inc({ host });
          span?.fail(redactor.text(error instanceof Error ? error.message : 'failed'));
        }
        span?.end();
      };
    },
  };

  return {
    metrics,
    logger,
    tracer,
    redactor,
    exec,
    storeCall(op, seconds, error) {
      metrics.storeDuration.observe({ op }, seconds);
      if (error !== undefined && isStorageFault(error)) metrics.storageFaults.inc();
    },
    setLeader(l) {
      leading = l;
    },
    close: () => tracer.shutdown(),
  };
}

export type { Logger, LogLevel } from './logger.js';
export { LOG_LEVELS } from './logger.js';
