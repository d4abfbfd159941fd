/**
 * The CLI's exit codes against a served API (issue 27, point 9): 1 only for a job that ran and failed; a refusal that
 * names another job (a resource busy with it: 409 with its jobId) is 2, like any 4xx.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/args.js';
import { run } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/topology.js';
import { serveApp } from '../../src/listen.js';
import { localHost, testApp } from '../helpers/app.js';

describe('CLI exit codes against the service', async () => {
  const t = await testApp();
  let server: ServerType;
  let base = '';
  let dir = '';
  let afterPlan: (() => Promise<void>) | null = null;
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      const served = {
        fetch: async (req: Request) => {
          const res = await t.app.fetch(req);
          // A change someone else makes right after the CLI's plan was answered (before its apply).
          if (afterPlan && req.method === 'PUT' && new URL(req.url).searchParams.get('dryRun') === 'true') {
            const change = afterPlan;
            afterPlan = null;
            await change();
          }
          return res;
        },
      };
      server = serveApp(served, { port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'np-cli-exit-'));
    t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
    t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
    expect((await t.json('POST', '/hosts', localHost('docker1', { tunnelIp: '10.10.10.101' }))).status).toBe(201);
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = async (...argv: string[]) => {
    const o = { out: '', err: '' };
    const io: Io = {
      out: (s) => (o.out += `${s}\n`),
      err: (s) => (o.err += `${s}\n`),
      progressStream: { write: () => true },
      env: { NETPLUMB_URL: base },
    };
    return { code: await run(argv, io), ...o };
  };
  const doc = (name: string) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({ name, networks: { web: { subnet: '10.11.12.0/24', members: [{ host: 'docker1', container: 'web1' }] } } }),
    );
    return file;
  };

  it('a resource busy with another job: 409 naming that job → exit 2 (not "job failed")', async () => {
    t.world.delayMs = 100;
    const body = { networks: { web: { subnet: '10.11.12.0/24', members: [{ host: 'docker1', container: 'web1' }] } } };
    const running = await t.json('PUT', '/topologies/busy', body, { Prefer: 'respond-async' });
    expect(running.status).toBe(202);
    const { job } = await running.json();
    const r = await cli('destroy', 'busy');
    expect(r.err).toContain('(409)');
    expect(r.err).toContain(`job: ${job.id}`);
    expect(r.code).toBe(EXIT.usage);
    await t.deps.runner.drain();
    t.world.delayMs = 0;
    expect((await cli('destroy', 'busy')).code).toBe(EXIT.ok);
  });

  it('a job that fails → exit 1, its problem printed with the job', async () => {
    t.world.on((argv) => (argv.includes('add-br') ? { exitCode: 1, stderr: 'ovs-vsctl: boom' } : undefined));
    try {
      const r = await cli('apply', '-f', doc('fails'));
      expect(r.err).toContain('A command failed on a host (502)');
      expect(r.code).toBe(EXIT.jobFailed);
    } finally {
      t.world.responders.shift();
    }
  });

  it('apply lands only on the version it planned against: a change made in between → exit 6, nothing applied', async () => {
    const file = join(dir, 'versioned.json');
    const body = (team: string) => ({
      name: 'versioned',
      labels: { team },
      networks: { lab: { subnet: '10.77.0.0/24', bridge: { name: 'ovs_versioned' }, members: [] } },
    });
    writeFileSync(file, JSON.stringify(body('cli')));
    const first = await cli('plan', '-f', file);
    expect(first.out).toContain('planned against no topology versioned');
    // Created between the CLI's plan and its apply: the apply (If-None-Match: *) is refused.
    afterPlan = async () => void expect((await t.json('PUT', '/topologies/versioned', body('other'))).status).toBe(201);
    const raced = await cli('apply', '-f', file);
    expect(raced.err).toContain('was created after the plan above was made');
    expect(raced.code).toBe(EXIT.changed);
    expect((await (await t.json('GET', '/topologies/versioned')).json()).labels).toEqual({ team: 'other' });

    // plan prints the version; apply --if-match lands only on it.
    const planned = await cli('plan', '-f', file);
    const etag = /at ("top_[a-z0-9]+\.\d+")/.exec(planned.out)?.[1];
    expect(etag).toBeDefined();
    expect((await t.json('PUT', '/topologies/versioned', body('third'))).status).toBe(200);
    const jobs = (await t.store.listJobs({ limit: 1000 })).items.length;
    const stale = await cli('apply', '-f', file, '--if-match', etag!);
    expect(stale.code).toBe(EXIT.changed);
    expect(stale.err).toContain('changed after the plan above was made');
    expect((await t.store.listJobs({ limit: 1000 })).items.length).toBe(jobs);
    expect((await (await t.json('GET', '/topologies/versioned')).json()).labels).toEqual({ team: 'third' });

    // With nothing in between, apply goes through (If-Match: the ETag of its own plan).
    const applied = await cli('apply', '-f', file);
    expect(applied.err).toBe('');
    expect(applied.code).toBe(EXIT.ok);
    expect((await (await t.json('GET', '/topologies/versioned')).json()).labels).toEqual({ team: 'cli' });
  });
});
