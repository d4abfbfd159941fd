/**
 * A job's progress while it runs, from its live log. On a terminal: one line per host (commands done/planned,
 * the current command, elapsed), redrawn in place. Otherwise (no TTY, or CI=true): plain timestamped lines.
 */
import type { Job, JobLogLine } from '../../sdk/src/index.js';

interface HostProgress {
  done: number;
  planned: number;
  current: string;
  failed: boolean;
}

export interface ProgressOptions {
  tty: boolean;
  write: (s: string) => void;
  /** commands the plan runs per host (the total shown); reads are not in the plan, so done may pass it */
  planned?: Record<string, number>;
  now?: () => number;
}

export function isInteractive(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return !!stream.isTTY && !env.CI?.match(/^(true|1)$/i);
}

const oneLine = (s: string, max: number) => {
  const l = s.split('\n')[0]!;
  return l.length > max ? `${l.slice(0, max - 1)}…` : l;
};

export class Progress {
  private readonly hosts = new Map<string, HostProgress>();
  private readonly t0: number;
  private readonly now: () => number;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly label: string,
    private readonly o: ProgressOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.t0 = this.now();
    for (const [h, n] of Object.entries(o.planned ?? {})) this.hosts.set(h, { done: 0, planned: n, current: '', failed: false });
    if (o.tty) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 500);
      this.timer.unref();
    } else {
      o.write(`${new Date(this.t0).toISOString()} ${label}: started\n`);
    }
  }

  line(l: JobLogLine): void {
    const name = l.host ?? '-';
    const h = this.hosts.get(name) ?? { done: 0, planned: 0, current: '', failed: false };
    this.hosts.set(name, h);
    if (l.stream === 'cmd') h.current = l.text;
    if (l.stream === 'info' && l.exitCode !== undefined) {
      h.done++;
      if (l.exitCode !== 0) h.failed = true;
    }
    if (l.stream === 'error') h.failed = true;
    if (this.o.tty) return this.draw();
    // Plain lines: the commands and what the job says; reads' stderr is noise here (the failure's problem is printed at the end).
    if (l.stream === 'cmd') this.o.write(`${l.ts} ${name} #${h.done + 1} $ ${oneLine(l.text, 200)}\n`);
    else if (l.stream === 'error' || (l.stream === 'info' && l.exitCode === undefined))
      this.o.write(`${l.ts} ${name} ${oneLine(l.text, 300)}\n`);
  }

  finish(job: Job): void {
    if (this.timer) clearInterval(this.timer);
    const secs = ((this.now() - this.t0) / 1000).toFixed(1);
    if (this.o.tty) {
      for (const h of this.hosts.values()) h.current = '';
      this.draw();
    }
    this.o.write(`${this.o.tty ? '' : `${new Date(this.now()).toISOString()} `}${this.label}: job ${job.id} ${job.status} in ${secs}s\n`);
  }

  /** The per-host lines (also what a terminal shows). */
  lines(): string[] {
    const elapsed = `${((this.now() - this.t0) / 1000).toFixed(1)}s`;
    const width = Math.max(4, ...[...this.hosts.keys()].map((k) => k.length));
    if (!this.hosts.size) return [`${this.label}: waiting for the job… ${elapsed}`];
    return [...this.hosts].map(
      ([name, h]) =>
        `${name.padEnd(width)}  ${String(h.done).padStart(3)}/${Math.max(h.planned, h.done)}  ${elapsed.padStart(6)}  ${h.failed ? 'FAILED ' : ''}${oneLine(h.current, 90)}`,
    );
  }

  private draw(): void {
    const lines = this.lines();
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.drawn = lines.length;
    this.o.write(s);
  }
}
