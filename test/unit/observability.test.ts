/** Trace context parsing, the pretty log format, and the files in deploy/ checked against the metrics that exist. */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from '../../src/observability/trace.js';
import { prettyLine } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { tracesUrl } from '../../src/observability/otel.js';

const run = promisify(execFile);

describe('traceparent', () => {
  it('reads W3C version 00 (and later versions), refuses malformed and all-zero ids', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceparent(tp)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true });
    expect(formatTraceparent(parseTraceparent(tp)!)).toBe(tp);
    expect(parseTraceparent(' 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00 ')).toMatchObject({ sampled: false });
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).not.toBeNull();
    for (const bad of [
      undefined,
      '',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
      'garbage',
    ])
      expect(parseTraceparent(bad)).toBeNull();
  });

  it('sends spans to <endpoint>/v1/traces', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
  });
});

describe('the service log on a terminal', () => {
  it('prints time, level, message and the fields, not JSON', () => {
    const line = prettyLine(
      '{"level":"warn","time":"2026-12-07T17:00:01.234Z","service":"netplumb","msg":"host unreachable","host":"docker1"}\n',
    );
    expect(line).toContain('17:00:01.234');
    expect(line).toContain('WARN');
    expect(line).toContain('host unreachable host=docker1');
    expect(line).not.toContain('{');
  });
});

/** Metric names a PromQL expression refers to (histogram suffixes folded into their histogram). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bnetplumb_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));
}

describe('deploy/: the dashboard and the alerting rules', () => {
  const registered = async () => {
    const m = new Metrics();
    return new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  };

  it('the Grafana dashboard only queries metrics the service has, and shows jobs, failures, hosts, batch latency, drift', async () => {
    const dash = JSON.parse(readFileSync('deploy/grafana/netplumb-dashboard.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const have = await registered();
    const used = new Set(exprs.flatMap(metricNames));
    for (const name of used) expect(have, name).toContain(name);
    for (const needed of [
      'netplumb_jobs_total',
      'netplumb_host_reachable',
      'netplumb_host_batch_duration_seconds',
      'netplumb_reconcile_drift_repaired_total',
    ])
      expect(used).toContain(needed);
  });

  it('the alerting rules only use metrics the service has', async () => {
    const rules = readFileSync('deploy/prometheus/netplumb-rules.yml', 'utf8');
    const have = await registered();
    const used = new Set(metricNames(rules));
    expect(used.size).toBeGreaterThan(3);
    for (const name of used) expect(have, name).toContain(name);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it.skipIf(!promtool)("a service process's metrics (with the process's own) pass promtool check metrics", async () => {
    const m = new Metrics({ processMetrics: true });
    m.jobs.inc({ kind: 'bridge.create', outcome: 'succeeded' });
    m.batchDuration.observe({ host: 'docker1' }, 0.02);
    const text = await m.text();
    expect(text).toContain('netplumb_process_cpu_seconds_total');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
      p.stdin!.end(text);
    });
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it.skipIf(!promtool)('promtool check rules and promtool test rules pass (promtool: Debian prometheus, scripts/setup.sh)', async () => {
    const check = await run('promtool', ['check', 'rules', 'deploy/prometheus/netplumb-rules.yml']);
    expect(check.stdout).toMatch(/SUCCESS: 5 rules found/);
    const test = await run('promtool', ['test', 'rules', 'deploy/prometheus/netplumb-rules.test.yml']);
    expect(test.stdout).toMatch(/SUCCESS/);
  });
});
