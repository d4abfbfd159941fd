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
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serveApp(t.app, { port: 0, hostname: '127.0.0.1' }, () => resolve());
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
});
