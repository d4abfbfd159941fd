/**
 * Structured logs (pino): one JSON line per event on stdout, each with the trace id, request id and job id of the
 * request or job it happened in (trace.ts scope), so a log shipper can join them. Every line passes the service's
 * Redactor as text before it is written: the token and inline private keys never reach the log, whatever field
 * they hide in. On a terminal the lines are printed for people instead (a small formatter below, not pino-pretty:
 * no worker thread, nothing more to ship).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { Redactor } from '../redact.js';
import { currentScope } from './trace.js';

export type { Logger } from 'pino';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** Secrets to keep out of every line (the same Redactor the job logs and problems use). */
  redactor?: Redactor;
  /** Where lines go (default process.stdout). */
  out?: { write(line: string): unknown; isTTY?: boolean };
  /** Human-readable lines; default: when `out` is a terminal. */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.out ?? process.stdout;
  const pretty = opts.pretty ?? out.isTTY === true;
  const redactor = opts.redactor;
  const destination = {
    write(line: string) {
      const safe = redactor ? redactor.text(line) : line;
      out.write(pretty ? prettyLine(safe) : safe);
    },
  };
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'netplumb' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const s = currentScope();
        if (!s) return {};
        return { traceId: s.span.traceId, ...(s.requestId ? { requestId: s.requestId } : {}), ...(s.jobId ? { jobId: s.jobId } : {}) };
      },
    },
    destination,
  );
}

const COLORS: Record<string, string> = { fatal: '35', error: '31', warn: '33', info: '32', debug: '36', trace: '90' };
const SKIP = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** `12:00:01.234 INFO  request done method=GET route=/hosts status=200 ms=3.1 traceId=…` */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = typeof o.level === 'string' ? o.level : 'info';
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : '';
  const fields = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} \x1b[${COLORS[level] ?? '0'}m${level.toUpperCase().padEnd(5)}\x1b[0m ${typeof o.msg === 'string' ? o.msg : ''}${fields ? ` ${fields}` : ''}\n`;
}
