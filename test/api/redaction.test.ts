import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/redact.js';
import { localHost, testApp } from '../helpers/app.js';

// A valid container name, so it travels through the job into every field that quotes the container.
const TOKEN = 'tok-0123456789abcdef-secret';

describe('redaction of every string field (issue 9, finding 5)', () => {
  it('a container named with the token: the token is in no field of the stored job error, the answer or the log', async () => {
    const t = await testApp({ token: TOKEN });
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    expect((await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge' })).status).toBe(201);
    const r = await t.json(
      'POST',
      '/attachments',
      { bridge: 'docker1/ovs_bridge', target: { container: TOKEN } },
      { 'Idempotency-Key': 'k1' },
    );
    expect(r.status).toBe(404);
    const answered = await r.text();
    const p = JSON.parse(answered);
    expect(p.type).toBe('https://netplumb.dev/problems/container-not-found');
    expect(p.container).toBe('[REDACTED]');
    expect(answered).not.toContain(TOKEN);

    const stored = (await t.store.getJob(p.jobId))!;
    expect(stored.error).not.toBeNull();
    expect(JSON.stringify(stored.error)).not.toContain(TOKEN);
    expect(JSON.stringify(await t.store.getLogs(p.jobId, 0, 1000))).not.toContain(TOKEN);
    expect(await (await t.json('GET', `/jobs/${p.jobId}`)).text()).not.toContain(TOKEN);
    // The stored idempotent answer too.
    const again = await t.json(
      'POST',
      '/attachments',
      { bridge: 'docker1/ovs_bridge', target: { container: TOKEN } },
      { 'Idempotency-Key': 'k1' },
    );
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(await again.text()).not.toContain(TOKEN);
  });

  it('problems thrown on the request path are redacted too (every field, not only detail)', async () => {
    const t = await testApp({ token: TOKEN });
    const r = await t.json('GET', `/hosts/${TOKEN}`);
    expect(r.status).toBe(404);
    const body = await r.text();
    expect(body).not.toContain(TOKEN);
    expect(JSON.parse(body).detail).toContain('[REDACTED]');
    const v = await t.json('POST', '/bridges', { host: 'docker1', name: 'ovs_bridge', labels: { [TOKEN]: TOKEN }, mtu: 1 });
    expect(v.status).toBe(422);
    expect(await v.text()).not.toContain(TOKEN);
  });

  it('Redactor: any depth, object keys, and each line of a multi-line key', () => {
    const r = new Redactor();
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACBxX1\n-----END OPENSSH PRIVATE KEY-----';
    r.add(key);
    r.add('short');
    const out = r.deep({ a: [{ b: `x ${key} y` }], [key.split('\n')[1]!]: 1, n: 3, line: `stderr: ${key.split('\n')[2]}` });
    expect(JSON.stringify(out)).not.toContain('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ');
    expect(JSON.stringify(out)).not.toContain('AAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACBxX1');
    expect(out).toMatchObject({ a: [{ b: 'x [REDACTED] y' }], '[REDACTED]': 1, n: 3, line: 'stderr: [REDACTED]' });
    expect(r.text('short')).toBe('short');
  });
});
