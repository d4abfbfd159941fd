/**
 * The netplumb CLI end to end, as a child process (bin/netplumb.mjs), on two light sandbox hosts over SSH with
 * named namespaces as members: apply (plan shown, job followed, exit 0), get -o json|yaml|table, status, logs,
 * graph, destroy; a bad document → exit 2 with its pointers and no stack trace; a failing job → exit 1; an
 * unreachable server → exit 3; --refuse-disruptive → exit 4; then embedded mode: up --state DIR with a hosts
 * file, on the same hosts, and down --state DIR removing it all.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkXml } from '../helpers/xml.js';
import type { SandboxHostSpec } from '../testbed/sandbox.js';
import { sshHostBody, startWorld, type World } from './harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/netplumb.mjs');

const HOSTS: SandboxHostSpec[] = [
  { name: 'h1', underlayCidr: '10.10.10.101/24', underlayGw: '10.10.10.1' },
  { name: 'h2', underlayCidr: '192.168.50.101/24', underlayGw: '192.168.50.1' },
];
const ns = (h: string) => `clim-${h}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, CI: 'true', NETPLUMB_DEBUG: '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const doc = (name: string, o: { tunnel?: string; route?: boolean; host2?: string; ifname?: string } = {}) => `name: ${name}
networks:
  lan:
    subnet: 10.45.0.0/24
    tunnel: { type: ${o.tunnel ?? 'vxlan'} }
    members:
      - { host: h1, netns: ${ns('h1')}, address: 10.45.0.11, ifname: ${o.ifname ?? 'eth1'} }
      - host: ${o.host2 ?? 'h2'}
        netns: ${ns('h2')}
        ifname: ${o.ifname ?? 'eth1'}
        address: 10.45.0.12${o.route ? '\n        routes: [{ to: 10.99.0.0/16, via: 10.77.0.1 }]' : ''}
`;

describe('netplumb CLI on sandbox hosts', () => {
  let w: World;
  let dir: string;
  let env: Record<string, string>;
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const ping = async (from: string, to: string) =>
    (await w.ssh(from, ['ip', 'netns', 'exec', ns(from), 'ping', '-c', '1', '-W', '3', to])).exitCode;
  const links = async (h: string) => (await w.ssh(h, ['ip', '-o', 'link', 'show'])).stdout.split('\n').length;
  const before: Record<string, number> = {};

  beforeAll(async () => {
    w = await startWorld('cl1', HOSTS, { withDocker: false });
    await w.registerHosts();
    for (const h of HOSTS) expect((await w.ssh(h.name, ['ip', 'netns', 'add', ns(h.name)])).exitCode).toBe(0);
    for (const h of HOSTS) before[h.name] = await links(h.name);
    dir = mkdtempSync(path.join(os.tmpdir(), 'netplumb-cli-'));
    env = { NETPLUMB_URL: w.baseUrl };
  }, 180_000);
  afterAll(async () => {
    for (const h of HOSTS) await w?.ssh(h.name, ['ip', 'netns', 'del', ns(h.name)]).catch(() => undefined);
    await w?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let jobId = '';

  it('apply: shows the plan, follows the job with timestamped lines (CI), exit 0; the members reach each other', async () => {
    const r = await cli(['apply', '-f', file('lan.yaml', doc('clt'))], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan for clt: 5 change\(s\), 0 unchanged/m);
    expect(r.stdout).toMatch(/create\s+tunnel:lan\/h1~h2\s+on h1,h2\s+disruption: none/);
    expect(r.stdout).toMatch(/^applied clt: ready, 5 resource\(s\) on h1, h2 \(job job_\w+\)/m);
    // Plain lines: ISO timestamp, host, [done/total], the command.
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z h1 #\d+ \$ /m);
    expect(r.stderr).toMatch(/apply clt: job job_\w+ succeeded in [\d.]+s/);
    expect(await ping('h1', '10.45.0.12')).toBe(0);
    expect(await ping('h2', '10.45.0.11')).toBe(0);
  });

  it('get -o json|yaml|table and status', async () => {
    const json = await cli(['get', 'clt', '-o', 'json'], env);
    expect(json.code, json.stderr).toBe(0);
    const t = JSON.parse(json.stdout);
    expect(t.state).toBe('ready');
    expect(Object.keys(t.resources)).toHaveLength(5);
    jobId = t.jobId;
    const yaml = await cli(['get', 'clt', '-o', 'yaml'], env);
    expect(parse(yaml.stdout).allocations.memberAddresses).toEqual({
      [`lan/h1/netns:${ns('h1')}`]: '10.45.0.11/24',
      [`lan/h2/netns:${ns('h2')}`]: '10.45.0.12/24',
    });
    const table = await cli(['get', 'clt'], env);
    expect(table.stdout).toMatch(/^state\s+ready/m);
    expect(table.stdout).toMatch(/^tunnel:lan\/h1~h2\s+tun_/m);
    const status = await cli(['status'], env);
    expect(status.stdout).toMatch(/^clt\s+ready\s+h1,h2\s+5\s+job_/m);
    const drift = await cli(['status', 'clt'], env);
    expect(drift.code, drift.stderr).toBe(0);
    expect(drift.stdout).toMatch(/^no drift \(observed /m);
  });

  it('logs JOB, and logs JOB -f (SSE) of a finished job', async () => {
    const r = await cli(['logs', jobId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\S+ h2 \$ /m);
    const f = await cli(['logs', jobId, '-f'], env);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout.trim().split('\n').length).toBe(r.stdout.trim().split('\n').length);
    expect(f.stderr).toContain(`job ${jobId} succeeded`);
  });

  it('graph: mermaid and DOT', async () => {
    const m = await cli(['graph', 'clt'], env);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^flowchart LR\n {2}subgraph host_h1\["h1"\]/);
    expect(m.stdout).toMatch(/<==>\|"vxlan vni \d+ mtu \d+"\|/);
    const d = await cli(['graph', 'clt', '--format', 'dot'], env);
    expect(d.stdout).toContain('subgraph "cluster_h2"');
    expect(d.stdout).toMatch(/-- "br_\w+" \[style=bold, label="vxlan vni \d+ mtu \d+"\]/);
    // The same SVG as GET /topologies/{name}/graph (src/graph/), well-formed.
    const s = await cli(['graph', 'clt', '--format', 'svg'], env);
    expect(s.code, s.stderr).toBe(0);
    expect(checkXml(s.stdout.trim()).errors).toEqual([]);
    expect(s.stdout).toMatch(/vxlan vni \d+ mtu \d+/);
  });

  it('--refuse-disruptive: a plan that flaps the tunnel is not applied, exit 4', async () => {
    const r = await cli(['apply', '-f', file('gre.yaml', doc('clt', { tunnel: 'gre' })), '--refuse-disruptive'], env);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toMatch(/replace\s+tunnel:lan\/h1~h2.*link-flap/);
    expect(JSON.parse((await cli(['get', 'clt', '-o', 'json'], env)).stdout).document.networks.lan.tunnel.type).toBe('vxlan');
  });

  it('a bad document: exit 2, the pointers printed, no stack trace', async () => {
    const r = await cli(['apply', '-f', file('bad.yaml', doc('bad', { host2: 'nohost' }))], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/networks/lan/members/1/host: no host named "nohost"');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const noName = await cli(['plan', '-f', file('noname.yaml', 'networks: {}\n')], env);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('has no name');
    const usage = await cli(['apply'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--file is required');
  });

  it('a job that fails: exit 1 with its problem; an unreachable server: exit 3', async () => {
    const r = await cli(['apply', '-f', file('fail.yaml', doc('clf', { route: true, ifname: 'eth2' }))], env);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/route 10\.99\.0\.0\/16 via 10\.77\.0\.1 failed on h2/);
    expect(r.stderr).toMatch(/apply clf: job job_\w+ failed/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const gone = await cli(['get', 'clf'], env);
    expect(gone.code).toBe(2);
    const down = await cli(['status'], { NETPLUMB_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach http://127.0.0.1:9');
  });

  it('destroy: exit 0, the hosts as before; destroying it again is exit 2 (or 0 with --ignore-missing)', async () => {
    const r = await cli(['destroy', 'clt'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^destroyed clt \(job job_\w+\)/m);
    for (const h of HOSTS) expect(await links(h.name)).toBe(before[h.name]);
    expect((await cli(['destroy', 'clt'], env)).code).toBe(2);
    expect((await cli(['destroy', 'clt', '--ignore-missing'], env)).code).toBe(0);
  });

  it('embedded: up --state DIR --hosts FILE runs the service in-process; down --state DIR removes it all', async () => {
    const state = path.join(dir, 'state');
    const hostsFile = file('hosts.json', JSON.stringify(HOSTS.map((h) => sshHostBody(w.sb, h.name))));
    const up = await cli(['up', '-f', file('emb.yaml', doc('emb')), '--state', state, '--hosts', hostsFile], { NETPLUMB_URL: '' });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^host h1: registered/m);
    expect(up.stdout).toMatch(/^applied emb: ready/m);
    expect(existsSync(path.join(state, 'netplumb.db'))).toBe(true);
    expect(await ping('h1', '10.45.0.12')).toBe(0);
    const status = await cli(['status', '--state', state]);
    expect(status.stdout).toMatch(/^emb\s+ready/m);
    // up again: hosts already there, an unchanged document runs nothing
    const again = await cli(['up', '-f', path.join(dir, 'emb.yaml'), '--state', state, '--hosts', hostsFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^host h1: already registered/m);
    expect(again.stdout).toMatch(/^plan for emb: 0 change\(s\), 5 unchanged/m);
    const down = await cli(['down', '--state', state]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/^destroyed emb/m);
    expect(down.stdout).toMatch(/^host h2: forgotten/m);
    expect(existsSync(state)).toBe(false);
    for (const h of HOSTS) expect(await links(h.name)).toBe(before[h.name]);
    expect((await cli(['down', '--state', state])).code).toBe(0);
  });
});
