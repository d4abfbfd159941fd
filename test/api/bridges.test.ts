import { existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';

async function withHost() {
  const t = await testApp();
  const r = await t.json('POST', '/hosts', localHost('docker1'));
  expect(r.status).toBe(201);
  t.world.calls = [];
  return t;
}

describe('bridges API', () => {
  it('creates an OVS bridge on the host named in the body; auto picks netdev without the kernel module', async () => {
    const t = await withHost();
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', addresses: ['10.11.12.1/24', 'FD00:0::0001/64'] });
    expect(r.status).toBe(201);
    const b = await r.json();
    expect(b).toMatchObject({
      name: 'ovs_bridge',
      type: 'ovs',
      datapathType: 'netdev',
      addresses: ['10.11.12.1/24', 'fd00::1/64'],
      hostName: 'docker1',
      state: 'ready',
      job: { status: 'succeeded' },
    });
    expect(t.world.calls.some((c) => c.argv.includes('add-br') && c.argv.includes(`external_ids:netplumb-id=${b.id}`))).toBe(true);
    expect((await t.json('GET', '/bridges/docker1/ovs_bridge')).status).toBe(200);
    expect((await (await t.json('GET', '/bridges?host=docker1')).json()).items).toHaveLength(1);
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge' })).status).toBe(409);
  });

  it('a name present on the host and not ours → 409 from the job, no record left; adopt: true takes it over', async () => {
    const t = await withHost();
    t.world.on((argv) => (argv.includes('br-exists') ? { exitCode: 0 } : undefined));
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'handmade' });
    expect(r.status).toBe(409);
    const p = await r.json();
    expect(p.detail).toContain('adopt');
    expect(p.jobId).toMatch(/^job_/);
    expect(t.world.calls.some((c) => c.argv.includes('add-br'))).toBe(false);
    expect((await t.json('GET', '/bridges/docker1/handmade')).status).toBe(404);
    const a = await t.json('POST', '/bridges', { host: 'docker1', name: 'handmade', adopt: true });
    expect(a.status).toBe(201);
    expect((await a.json()).adopted).toBe(true);
  });

  it('a failing step undoes the completed ones in reverse and the job log shows both directions', async () => {
    const t = await withHost();
    t.world.on((argv) =>
      argv[0] === 'ip' && argv[2] === 'replace' ? { exitCode: 2, stderr: 'Error: ipv4: Address already assigned.' } : undefined,
    );
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'br1', addresses: ['10.0.0.1/24'] });
    expect(r.status).toBe(502);
    const p = await r.json();
    expect(p.type).toBe('https://netplumb.dev/problems/command-failed');
    expect(p.detail).toContain('Address already assigned');
    const last = t.world.calls.at(-1)!.argv;
    expect(last).toEqual(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'br1']);
    const logs = (await (await t.json('GET', `/jobs/${p.jobId}/logs`)).json()).items.map((l: { text: string }) => l.text);
    expect(logs.some((l: string) => l.includes('undoing 1 completed step'))).toBe(true);
    expect((await t.json('GET', '/bridges/docker1/br1')).status).toBe(404);
  });

  it('Linux bridges take no datapath type; unknown host → 404 with pointer', async () => {
    const t = await withHost();
    const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'docker0', type: 'linux', datapathType: 'netdev' });
    expect(r.status).toBe(422);
    expect((await r.json()).errors[0].pointer).toBe('/datapathType');
    const nf = await t.json('POST', '/bridges', { host: 'nohost', name: 'x' });
    expect(nf.status).toBe(404);
    expect((await nf.json()).errors[0].pointer).toBe('/host');
  });

  it('hostile names and addresses → 422, no job, no command, no file', async () => {
    const t = await withHost();
    rmSync('/tmp/x', { force: true });
    const names = ['br0;touch /tmp/x', '$(id)', '-br', 'a'.repeat(16), 'all', '..', 'a/b', '.hidden', '', 'br 0', 'é'];
    for (const name of names) {
      const r = await t.json('POST', '/bridges', { host: 'docker1', name });
      expect(r.status, name).toBe(422);
      expect((await r.json()).errors[0].pointer, name).toBe('/name');
    }
    for (const addr of ['10.0.0.1/24;id', '10.0.0.1', '300.1.1.1/24', '10.0.0.1/33', '$(id)/24', '10.1/8']) {
      const r = await t.json('POST', '/bridges', { host: 'docker1', name: 'ok', addresses: [addr] });
      expect(r.status, addr).toBe(422);
      expect((await r.json()).errors[0].pointer, addr).toBe('/addresses/0');
    }
    expect(t.world.calls).toHaveLength(0);
    expect((await t.store.listJobs({ limit: 100, kind: 'bridge.create' })).items).toHaveLength(0);
    expect(existsSync('/tmp/x')).toBe(false);
  });

  it('PATCH converges; DELETE answers 204', async () => {
    const t = await withHost();
    const b = await (await t.json('POST', '/bridges', { host: 'docker1', name: 'br1', addresses: ['10.0.0.1/24'] })).json();
    t.world.calls = [];
    const r = await t.json('PATCH', `/bridges/${b.id}`, { addresses: ['10.0.1.1/24'], mtu: 1400 });
    expect(r.status).toBe(200);
    expect((await r.json()).addresses).toEqual(['10.0.1.1/24']);
    expect(t.world.calls.map((c) => c.argv.join(' '))).toContain('ip addr del 10.0.0.1/24 dev br1');
    expect((await t.json('DELETE', `/bridges/${b.id}`)).status).toBe(204);
    expect((await t.json('GET', `/bridges/${b.id}`)).status).toBe(404);
  });
});
