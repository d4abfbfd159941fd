/** Hosts over SSH on real sandbox hosts: probe facts, host key pinning, quoting, faults and recovery, concurrency. */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newJob } from '../../src/jobs/runner.js';
import { startWorld, sshHostBody, type World } from './harness.js';
import { hostExecutor } from '../../src/services.js';

let w: World;
beforeAll(async () => {
  w = await startWorld('ihst');
  await w.registerHosts();
});
afterAll(async () => {
  await w?.close();
});

const acceptedLogins = (host: string) =>
  readFileSync(w.sb.host(host).sshdLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Accepted publickey')).length;

/** Kills a sandbox host's sshd and every session under it: the host is gone, as when it crashes. */
async function killSshdTree(host: string): Promise<void> {
  const root = Number(readFileSync(w.sb.host(host).sshdPidFile, 'utf8').trim());
  const parent = new Map<number, number>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
  }
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

describe('hosts over SSH', () => {
  it('probe facts show OVS 3.x with netdev among the datapath types, and the Docker version (registered through the SDK)', async () => {
    for (const name of ['docker1', 'docker3']) {
      const h = await w.np.hosts.get(name);
      expect(h.state).toBe('ready');
      expect(h.executor).toMatchObject({ kind: 'ssh', auth: 'privateKeyPath', hostKeySha256: w.sb.host(name).hostKeySha256 });
      expect(JSON.stringify(h)).not.toContain(w.sb.clientKeyPath);
      expect(h.facts?.reachable).toBe(true);
      expect(h.facts?.ovs?.version).toMatch(/^3\./);
      expect(h.facts?.ovs?.datapathTypes).toContain('netdev');
      expect(h.facts?.docker?.version).toMatch(/^\d+\.\d+/);
      expect(h.facts?.kernel).toMatch(/^\d+\.\d+/);
      expect(h.facts?.ethtool).toBe(true);
      console.log(
        `[hosts] ${name}: kernel ${h.facts?.kernel}, iproute2 ${h.facts?.iproute2}, OVS ${h.facts?.ovs?.version} [${h.facts?.ovs?.datapathTypes.join(', ')}], docker ${h.facts?.docker?.version}, modules ${JSON.stringify(h.facts?.kernelModules)}`,
      );
    }
  });

  it("a wrong host key is refused before authentication; the job's problem names the mismatch and both fingerprints", async () => {
    const before = acceptedLogins('docker1');
    const body = { ...sshHostBody(w.sb, 'docker1'), name: 'impostor' };
    body.executor = { ...body.executor, hostKeySha256: w.sb.host('docker3').hostKeySha256 };
    const err = await w.np.hosts.create(body).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.problem.type).toBe('https://netplumb.dev/problems/host-key-mismatch');
    expect(err.problem.detail).toContain('host key mismatch');
    expect(err.problem.detail).toContain(w.sb.host('docker3').hostKeySha256);
    expect(err.problem.detail).toContain(w.sb.host('docker1').hostKeySha256);
    expect(err.jobId).toMatch(/^job_/);
    await new Promise((r) => setTimeout(r, 300));
    expect(acceptedLogins('docker1')).toBe(before);
    const h = await w.np.hosts.get('impostor');
    expect(h.facts).toMatchObject({ reachable: false });
  });

  it('any argv arrives on the host exactly as sent (quoting property, through the SSH executor)', async () => {
    const ex = await hostExecutor(w.deps, 'docker1');
    const word = fc
      .oneof(
        fc.string({ unit: 'grapheme', maxLength: 12 }),
        fc.constantFrom("'", '"', '$(id)', '`id`', '\n', '-rf', '--', '\\', ';', '&&', '|', '*', '~', '$HOME', 'é漢🙂', ' ', ''),
      )
      .filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 8 }), async (argv) => {
        const r = await ex.run(['printf', '%s\\0', ...argv]);
        expect(r.exitCode).toBe(0);
        const got = argv.length ? r.stdout.split('\0').slice(0, -1) : [];
        // printf with no words still prints the format once
        expect(argv.length ? got : []).toEqual(argv);
      }),
      { numRuns: 60 },
    );
  });

  it('40 commands at once on one host all succeed within the channel limit', async () => {
    const ex = (await hostExecutor(w.deps, 'docker3')) as import('../../src/exec/ssh.js').SshExecutor;
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => ex.run(['sh', '-c', `sleep 0.1; echo ${i}`])));
    expect(rs.every((r, i) => r.exitCode === 0 && r.stdout.trim() === String(i))).toBe(true);
    expect(ex.maxObservedChannels).toBeLessThanOrEqual(8);
  });

  it('sshd killed mid-command: the job fails with a clear problem, other hosts still served; sshd back → the next job reconnects', async () => {
    const host = (await w.deps.store.getResourceByKey('host', 'docker1'))!;
    const job = newJob({ kind: 'test.sleep', resource: { type: 'host', id: host.id }, hosts: [host.id] });
    await w.deps.store.insertJob(job);
    const t = performance.now();
    w.deps.runner.start(job, async (ctx) => {
      await ctx.runPlan({ steps: [{ host: host.id, description: 'a long command', argv: ['sleep', '30'] }] });
    });
    await new Promise((r) => setTimeout(r, 700));
    await killSshdTree('docker1');
    const done = await w.deps.runner.wait(job.id, 30_000);
    const took = performance.now() - t;
    expect(done.status).toBe('failed');
    expect(done.error?.type).toBe('https://netplumb.dev/problems/host-unreachable');
    expect(done.error?.detail).toMatch(/docker1|10\.200|connection/);
    expect(took).toBeLessThan(21_000);
    console.log(`[hosts] job failed ${Math.round(took)} ms after start: ${String(done.error?.detail)}`);

    const other = await w.np.hosts.probe('docker3');
    expect(other.facts?.reachable).toBe(true);
    const down = await w.np.hosts.probe('docker1').catch((e) => e);
    expect(down.status).toBe(502);

    await w.sb.startSshd('docker1');
    const back = await w.np.hosts.probe('docker1');
    expect(back.facts?.reachable).toBe(true);
    const br = await w.np.bridges.create({ host: 'docker1', name: 'after_fault' });
    expect(br.state).toBe('ready');
  });
});
