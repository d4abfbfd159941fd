/** The CLI without a service: argument parsing, output formatting, the progress display, run()'s exit codes. */
import { describe, expect, it } from 'vitest';
import type { JobLogLine, TopologyPlan } from '../../sdk/src/index.js';
import { CliError, EXIT, parseCommandLine } from '../../src/cli/args.js';
import { run } from '../../src/cli/main.js';
import { formatPlan, formatProblem, isDisruptive } from '../../src/cli/output.js';
import { isInteractive, Progress } from '../../src/cli/progress.js';
import { plannedCommands, type Io } from '../../src/cli/topology.js';

const usageError = (argv: string[]) => {
  try {
    parseCommandLine(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).code).toBe(EXIT.usage);
    return (e as CliError).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

describe('parseCommandLine', () => {
  it('commands, positionals, options in any order, -o', () => {
    expect(parseCommandLine(['apply', '-f', 't.yaml', '--dry-run'])).toMatchObject({
      command: 'apply',
      values: { file: 't.yaml', 'dry-run': true },
      output: 'table',
    });
    expect(parseCommandLine(['--server', 'http://x:1', 'get', 'seed', '-o', 'json'])).toMatchObject({
      command: 'get',
      args: ['seed'],
      values: { server: 'http://x:1' },
      output: 'json',
    });
    expect(parseCommandLine(['hosts', 'add', 'd1', '--ssh', 'root@10.0.0.1:2222'])).toMatchObject({ sub: 'add', args: ['d1'] });
    expect(parseCommandLine(['logs', 'job_1', '-f'])).toMatchObject({ values: { follow: true } });
    expect(parseCommandLine([]).command).toBe('help');
    expect(parseCommandLine(['apply', '--help']).command).toBe('help');
  });
  it('bad input is a usage error (exit 2) that says what is wrong', () => {
    expect(usageError(['frob'])).toContain('unknown command "frob"');
    expect(usageError(['get'])).toContain('get: missing argument');
    expect(usageError(['get', 'a', 'b'])).toContain('unexpected argument "b"');
    expect(usageError(['apply', '--bogus'])).toContain("Unknown option '--bogus'");
    expect(usageError(['get', 'a', '-o', 'xml'])).toContain('-o takes table, json or yaml');
    expect(usageError(['hosts', 'frob'])).toContain('give one of add, list, probe, remove');
    expect(usageError(['--dry-run'])).toContain('no command given');
  });
});

const plan: TopologyPlan = {
  name: 'seed',
  changes: [
    {
      action: 'create',
      kind: 'bridge',
      slot: 'bridge:web/d1',
      id: null,
      hosts: ['d1'],
      disruption: 'none',
      affects: [],
      fields: [],
      commands: { d1: ['a', 'b'] },
    },
    {
      action: 'replace',
      kind: 'tunnel',
      slot: 'tunnel:web/d1~d3',
      id: 'tun_1',
      hosts: ['d1', 'd3'],
      disruption: 'link-flap',
      affects: ['web/d1/web1'],
      fields: ['type'],
      commands: { d1: ['c'], d3: ['d', 'e'] },
    },
  ],
  unchanged: ['attachment:web/d1/web1'],
  allocations: { memberAddresses: {}, hostAddresses: {}, keys: {}, bridgeNames: {}, hostIfnames: {}, ifnames: {}, macs: {} },
};

describe('output', () => {
  it('a plan: action, slot, hosts, disruption, fields and affected members; unchanged slots', () => {
    expect(formatPlan(plan)).toBe(
      [
        'plan for seed: 2 change(s), 1 unchanged',
        '  create   bridge:web/d1     on d1     disruption: none',
        '  replace  tunnel:web/d1~d3  on d1,d3  disruption: link-flap  fields type; affects web/d1/web1',
        '  unchanged: attachment:web/d1/web1',
      ].join('\n'),
    );
    expect(isDisruptive(plan)).toBe(true);
    expect(isDisruptive({ ...plan, changes: [plan.changes[0]!] })).toBe(false);
    expect(plannedCommands(plan)).toEqual({ d1: 3, d3: 2 });
  });
  it('a problem: title, status, detail, each pointer, the job', () => {
    expect(
      formatProblem({
        type: 'https://netplumb.dev/problems/validation',
        title: 'Validation failed',
        status: 422,
        detail: '2 problem(s)',
        errors: [
          { pointer: '/networks/web/members/0/host', detail: 'no host named "docker9"' },
          { pointer: '', detail: 'whole document' },
        ],
      }),
    ).toBe('error: Validation failed (422): 2 problem(s)\n  /networks/web/members/0/host: no host named "docker9"\n  /: whole document');
    const failed = { type: 'https://netplumb.dev/problems/command-failed', title: 'Command failed', status: 502, detail: 'x' } as const;
    expect(formatProblem({ ...failed, jobId: 'job_1' })).toContain('job: job_1 (netplumb logs job_1)');
    expect(formatProblem({ ...failed, jobId: 'job_1', jobStatus: 'failed' })).toContain('job: job_1 failed (netplumb logs job_1)');
    expect(formatProblem({ ...failed, type: 'https://netplumb.dev/problems/host-unreachable', retryAfter: 10 })).toContain(
      'try again in 10 s',
    );
    expect(formatProblem({ type: 'about:blank', title: 'Bad Gateway', status: 502, detail: '' })).toBe('error: Bad Gateway (502)');
  });
});

describe('progress', () => {
  const line = (host: string, stream: JobLogLine['stream'], text: string, exitCode?: number): JobLogLine => ({
    seq: 1,
    ts: '2026-01-01T00:00:00.000Z',
    host,
    stream,
    text,
    ...(exitCode !== undefined ? { exitCode } : {}),
  });
  it('CI: plain timestamped lines (commands, job messages), not stderr of reads', () => {
    let out = '';
    let t = 0;
    const p = new Progress('apply seed', { tty: false, write: (s) => (out += s), planned: { d1: 2 }, now: () => t });
    p.line(line('d1', 'cmd', 'ip link add x'));
    p.line(line('d1', 'stderr', 'Device "x" does not exist.'));
    p.line(line('d1', 'info', 'exit 0', 0));
    p.line(line('d1', 'cmd', 'ovs-vsctl add-br b\nmore'));
    p.line(line('d1', 'error', 'boom'));
    t = 1500;
    p.finish({ id: 'job_1', status: 'failed' } as never);
    expect(out.split('\n')).toEqual([
      '1970-01-01T00:00:00.000Z apply seed: started',
      '2026-01-01T00:00:00.000Z d1 #1 $ ip link add x',
      '2026-01-01T00:00:00.000Z d1 #2 $ ovs-vsctl add-br b',
      '2026-01-01T00:00:00.000Z d1 boom',
      '1970-01-01T00:00:01.500Z apply seed: job job_1 failed in 1.5s',
      '',
    ]);
  });
  it('terminal: one line per host (done/total, elapsed, current command), redrawn in place', () => {
    let out = '';
    let t = 0;
    const p = new Progress('apply seed', { tty: true, write: (s) => (out += s), planned: { d1: 2, d3: 1 }, now: () => t });
    t = 2000;
    p.line(line('d1', 'cmd', 'ip link add x'));
    p.line(line('d1', 'info', 'exit 0', 0));
    expect(p.lines()).toEqual(['d1      1/2    2.0s  ip link add x', 'd3      0/1    2.0s  ']);
    expect(out).toContain('\x1b[2A\x1b[2K');
    p.finish({ id: 'job_1', status: 'succeeded' } as never);
  });
  it('interactive only on a TTY outside CI', () => {
    expect(isInteractive({ isTTY: true }, {})).toBe(true);
    expect(isInteractive({ isTTY: true }, { CI: 'true' })).toBe(false);
    expect(isInteractive({ isTTY: false }, {})).toBe(false);
  });
});

describe('run: exit codes without a service', () => {
  const io = () => {
    const o = { out: '', err: '' };
    const x: Io = {
      out: (s) => (o.out += `${s}\n`),
      err: (s) => (o.err += `${s}\n`),
      progressStream: { write: () => true },
      env: { NETPLUMB_URL: 'http://127.0.0.1:9' },
    };
    return { o, x };
  };
  it('help 0, usage 2, unreachable 3, a missing file 2 — messages, no stack', async () => {
    const a = io();
    expect(await run(['--help'], a.x)).toBe(0);
    expect(a.o.out).toContain('exit codes: 0 ok, 1 job failed');
    const b = io();
    expect(await run(['status'], b.x)).toBe(EXIT.unreachable);
    expect(b.o.err).toContain('cannot reach http://127.0.0.1:9');
    const c = io();
    expect(await run(['apply', '-f', '/nonexistent.yaml'], c.x)).toBe(EXIT.usage);
    expect(c.o.err).toContain('cannot read /nonexistent.yaml');
    expect(c.o.err).not.toMatch(/^\s+at /m);
  });
});
