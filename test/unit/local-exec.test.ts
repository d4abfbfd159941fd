import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalExecutor } from '../../src/exec/local.js';

/** Pids of live (non-zombie) processes in a process group, from /proc. */
function processGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm may contain spaces and parentheses: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const [state, , group] = fields; // state, ppid, pgrp
      if (Number(group) === pgid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('LocalExecutor', () => {
  const exec = new LocalExecutor();

  it('reports exit codes, stdout and stderr', async () => {
    const ok = await exec.run(['sh', '-c', 'echo out; echo err >&2; exit 0']);
    expect(ok).toMatchObject({ exitCode: 0, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    expect(ok.ms).toBeGreaterThan(0);

    const failed = await exec.run(['sh', '-c', 'exit 3']);
    expect(failed.exitCode).toBe(3);
    expect(failed.timedOut).toBe(false);
  });

  it('passes arguments verbatim, never through a shell', async () => {
    const argv = ['$(id)', '`id`', "it's", 'a b', '*', 'line\nbreak', 'é🦀'];
    const res = await exec.run(['printf', '%s\\0', ...argv]);
    expect(res.stdout.split('\0').slice(0, -1)).toEqual(argv);
  });

  it('writes stdin, then closes it', async () => {
    const res = await exec.run(['cat'], { stdin: 'hello\nworld\n' });
    expect(res).toMatchObject({ exitCode: 0, stdout: 'hello\nworld\n' });
    const buf = await exec.run(['wc', '-c'], { stdin: Buffer.alloc(100_000, 1) });
    expect(buf.stdout.trim()).toBe('100000');
    // Without stdin the command sees EOF at once instead of waiting.
    const empty = await exec.run(['cat'], { timeoutMs: 5000 });
    expect(empty).toMatchObject({ exitCode: 0, stdout: '', timedOut: false });
  });

  it('a command that does not read stdin does not break the run', async () => {
    const res = await exec.run(['true'], { stdin: Buffer.alloc(1_000_000) });
    expect(res.exitCode).toBe(0);
  });

  it('a missing command is exit 127 naming the command, not a rejection', async () => {
    const res = await exec.run(['netplumb-no-such-command', '--x']);
    expect(res.exitCode).toBe(127);
    expect(res.stderr).toContain('netplumb-no-such-command');
    expect(res.timedOut).toBe(false);
  });

  it('reports a signal death as 128 + signal', async () => {
    const res = await exec.run(['sh', '-c', 'kill -TERM $$']);
    expect(res.exitCode).toBe(128 + 15);
  });

  it('on timeout kills the whole process group and says so', async () => {
    const started = Date.now();
    const res = await exec.run(['sh', '-c', 'echo $$; sleep 100 & sleep 100'], { timeoutMs: 500 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res).toMatchObject({ exitCode: 124, timedOut: true });
    const pgid = Number(res.stdout.trim()); // detached: the shell leads its own group
    expect(pgid).toBeGreaterThan(1);
    // SIGKILL is asynchronous; give the kernel a moment to reap.
    for (let i = 0; i < 50 && processGroupMembers(pgid).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processGroupMembers(pgid)).toEqual([]);
  });

  it('does not wait for background children that keep the pipes open', async () => {
    const res = await exec.run(['sh', '-c', 'echo $$; sleep 3 & echo done'], { timeoutMs: 10_000 });
    expect(res).toMatchObject({ exitCode: 0, timedOut: false });
    expect(res.stdout).toContain('done');
    expect(res.ms).toBeLessThan(2000);
    const pgid = Number(res.stdout.split('\n')[0]);
    process.kill(-pgid, 'SIGKILL'); // clean up the sleep we left behind on purpose
  });

  it('caps huge output instead of growing without bound', async () => {
    const res = await exec.run(['head', '-c', String(6 * 1024 * 1024), '/dev/zero']);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.length).toBe(4 * 1024 * 1024);
  });

  it('merges env overrides into the environment', async () => {
    const withEnv = new LocalExecutor({ env: { OVS_RUNDIR: '/tmp/ovs-x', NETPLUMB_T: 'a b' } });
    const res = await withEnv.run(['sh', '-c', 'echo "$OVS_RUNDIR|$NETPLUMB_T|${PATH:+path}"']);
    expect(res.stdout).toBe('/tmp/ovs-x|a b|path\n');
  });

  it('rejects an empty argv and NUL in arguments (caller bugs)', async () => {
    await expect(exec.run([])).rejects.toThrow(TypeError);
    await expect(exec.run(['echo', 'a\0b'])).rejects.toThrow();
  });

  it('runs many commands concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => exec.run(['echo', String(i)])));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 40 }, (_, i) => `${i}\n`));
  });
});
