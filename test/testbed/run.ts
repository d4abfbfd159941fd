/**
 * Process helpers for the sandbox: run an argv (never a shell), wait for a condition,
 * and find or kill a process exactly — by pid file and command line, never by name.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import type { ExecResult } from './types.js';

// ---------------------------------------------------------------------------
// Running commands

export interface RunOpts {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function run(argv: string[], opts: RunOpts = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new TypeError('empty argv');
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ?? process.env,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        let exitCode = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string };
          if (typeof e.code === 'number') exitCode = e.code;
          else if (e.killed || e.signal) {
            exitCode = 124;
            stderr = `${stderr}\n[timed out after ${opts.timeoutMs ?? 30_000} ms or killed by ${e.signal ?? '?'}]`;
          } else {
            exitCode = 127;
            stderr = `${stderr}\n${e.message}`;
          }
        }
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** run() that throws on a non-zero exit, with the argv and stderr in the message. */
export async function must(argv: string[], opts: RunOpts = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.exitCode !== 0) {
    throw new Error(`command failed (exit ${r.exitCode}): ${argv.join(' ')}\n${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export async function readText(p: string): Promise<string | undefined> {
  try {
    return await fs.readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

export async function tail(p: string, lines = 15): Promise<string> {
  const t = await readText(p);
  if (!t) return '';
  return t.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// Processes: identify ours exactly, kill only those

export interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
  netns: string;
  zombie: boolean;
}

export async function procInfo(pid: number): Promise<ProcInfo | undefined> {
  try {
    const [cmdlineRaw, stat] = await Promise.all([fs.readFile(`/proc/${pid}/cmdline`, 'utf8'), fs.readFile(`/proc/${pid}/stat`, 'utf8')]);
    // stat: "pid (comm) S ppid ..." — comm may contain spaces and parens
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let netns = '';
    try {
      netns = await fs.readlink(`/proc/${pid}/ns/net`);
    } catch {
      /* kernel thread or gone */
    }
    return { pid, ppid: Number(after[1]), cmdline: cmdlineRaw.split('\0').join(' '), netns, zombie: after[0] === 'Z' || after[0] === 'X' };
  } catch {
    return undefined;
  }
}

export async function alive(pid: number): Promise<boolean> {
  const p = await procInfo(pid);
  return !!p && !p.zombie;
}

export async function readPid(file: string): Promise<number | undefined> {
  const t = await readText(file);
  const n = Number(t?.trim());
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

/** Signal pids, wait up to graceMs for them to go, then SIGKILL the rest and wait again. */
export async function terminate(pids: number[], graceMs: number): Promise<void> {
  pids = [...new Set(pids)].filter((p) => p !== process.pid && p > 1);
  if (pids.length === 0) return;
  const send = (sig: NodeJS.Signals) => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  const allGone = async () => (await Promise.all(pids.map(alive))).every((a) => !a);
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await allGone()) return;
    await sleep(20);
  }
  send('SIGKILL');
  const d2 = Date.now() + 5000;
  while (Date.now() < d2) {
    if (await allGone()) return;
    await sleep(20);
  }
}

/**
 * Kill the process named in a pid file — only if it is alive and its command line
 * contains `match` (a path unique to this sandbox host), so a reused pid is never hit.
 */
export async function killByPidFile(pidFile: string, match: string, graceMs: number): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  if (!pid) return undefined;
  const info = await procInfo(pid);
  if (!info || info.zombie || !info.cmdline.includes(match)) return undefined;
  await terminate([pid], graceMs);
  return pid;
}
