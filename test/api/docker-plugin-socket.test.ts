/**
 * The plugin protocol by hand, as dockerd and an operator reach it: `curl --unix-socket` on the socket a local host
 * gets (a temporary path here, not /run/docker/plugins), with no body and no Content-Type, an unknown method, and a
 * forced host failure whose {"Err"} text is what `docker run` would print. The host steps run on the fake host.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { DockerPluginServer } from '../../src/docker-plugin.js';
import { LocalExecutor } from '../../src/exec/local.js';
import type { HostServices } from '../../src/exec/pool.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function served() {
  const t = await testApp();
  t.world.on((argv) => (argv[0] === 'docker' && argv[2] === 'inspect' ? { exitCode: 1, stderr: 'Error: No such network\n' } : undefined));
  t.world.on((argv) => (argv[0] === 'docker' && argv[2] === 'create' ? { stdout: 'x\n' } : undefined));
  t.world.on((argv) => (argv[0] === 'docker' && argv[2] === 'rm' ? { stdout: 'web\n' } : undefined));
  expect((await t.json('POST', '/hosts', localHost('docker1', { tunnelIp: '10.10.10.101' }))).status).toBe(201);
  const doc = { networks: { web: { subnet: '10.11.12.0/24', docker: { name: 'web', hosts: ['docker1'] } } } };
  expect((await t.json('PUT', '/topologies/seed', doc)).status).toBe(201);
  const hostId = ((await (await t.json('GET', '/hosts/docker1')).json()) as { id: string }).id;
  const dir = await mkdtemp(join(tmpdir(), 'np-plugin-'));
  const socket = join(dir, 'plugins', 'netplumb.sock');
  // The socket through the executor a local host really has; the host steps through the fake host (t.deps.runner).
  const local = new LocalExecutor();
  const hosts: HostServices = { ...t.deps.hosts, executor: () => local };
  const server = new DockerPluginServer({ store: t.deps.store, runner: t.deps.runner, hosts }, socket);
  cleanups.push(async () => {
    server.close();
    await local.close();
    await rm(dir, { recursive: true, force: true });
  });
  await server.serve(hostId);
  const curl = async (method: string, body?: string) => {
    // As dockerd sends it: the socket path, URL-encoded, as the Host.
    const host = `Host: ${encodeURIComponent(socket)}`;
    const args = ['-s', '--max-time', '10', '--unix-socket', socket, '-H', host, '-X', 'POST', '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', 'Content-Type:', '--data-binary', body);
    const { stdout } = await run('curl', [...args, `http://plugin/${method}`]);
    const [text, code] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
    return { status: Number(code), body: JSON.parse(text) as Record<string, unknown> };
  };
  return { t, socket, curl, server, hostId };
}

describe('Docker plugin over a unix socket (curl --unix-socket)', () => {
  it('answers with no body and no Content-Type; unknown methods 404; a failing host step as {"Err"}', async () => {
    const { t, socket, curl } = await served();
    expect((await stat(socket)).isSocket()).toBe(true);
    expect(await curl('Plugin.Activate')).toEqual({ status: 200, body: { Implements: ['NetworkDriver', 'IpamDriver'] } });
    expect(await curl('NetworkDriver.GetCapabilities', '')).toEqual({ status: 200, body: { Scope: 'local', ConnectivityScope: 'local' } });
    expect(await curl('NetworkDriver.Frobnicate')).toMatchObject({
      status: 404,
      body: { Err: 'netplumb: unknown method NetworkDriver.Frobnicate' },
    });
    const pool = await curl(
      'IpamDriver.RequestPool',
      JSON.stringify({ Pool: '10.11.12.0/24', Options: { 'netplumb.network': 'seed/web' } }),
    );
    expect(pool.body).toMatchObject({ PoolID: 'seed/web', Pool: '10.11.12.0/24' });
    const net = 'a'.repeat(64);
    const ep = 'e'.repeat(64);
    const generic = { 'com.docker.network.generic': { 'netplumb.network': 'seed/web' } };
    expect((await curl('NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: net, Options: generic }))).status).toBe(200);
    const addr = (await curl('IpamDriver.RequestAddress', JSON.stringify({ PoolID: 'seed/web' }))).body.Address as string;
    expect(
      (await curl('NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: net, EndpointID: ep, Interface: { Address: addr } }))).status,
    ).toBe(200);
    // The host refuses the veth: Docker gets the reason (it prints "…: NetworkDriver.Join: netplumb: …").
    t.world.on((argv) =>
      argv[0] === 'ip' && argv[1] === 'link' && argv[2] === 'add'
        ? { exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' }
        : undefined,
    );
    const join = await curl(
      'NetworkDriver.Join',
      JSON.stringify({ NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/x' }),
    );
    expect(join.status).toBe(500);
    expect(join.body.Err).toMatch(/^netplumb: docker\.join failed on the host \(job job_\w+\): .*Operation not permitted/);
    // Nothing half-made stays: the failed step's undo ran (the host end deleted).
    expect(t.world.calls.filter((c) => c.argv.join(' ').startsWith('ip link del dev npd')).length).toBeGreaterThanOrEqual(1);
  });

  it('serving again is idempotent, and a stale socket file left by a previous process is replaced', async () => {
    const { t, curl, server, hostId, socket } = await served();
    await server.serve(hostId);
    expect((await curl('Plugin.Activate')).status).toBe(200);
    // A second service on the same path (the first one gone without cleaning up) takes it over.
    const local = new LocalExecutor();
    const again = new DockerPluginServer(
      { store: t.deps.store, runner: t.deps.runner, hosts: { ...t.deps.hosts, executor: () => local } },
      socket,
    );
    cleanups.push(async () => {
      again.close();
      await local.close();
    });
    await again.serve(hostId);
    expect((await curl('IpamDriver.GetCapabilities')).body).toEqual({ RequiresMACAddress: false, RequiresRequestReplay: false });
  });
});
