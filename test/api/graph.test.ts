/**
 * The graph exports and the page's assets through the API with the fake host: the seed topology applied, then
 * GET /topologies/seed/graph and GET /graph in every format (media types, contents, the same text as the shared
 * renderers the CLI uses), errors as problems; /ui served without a token under a strict CSP, /graph only with one.
 */
import { describe, expect, it } from 'vitest';
import { localHost, testApp } from '../helpers/app.js';
import { checkXml } from '../helpers/xml.js';

const SEED = {
  networks: {
    web: {
      bridge: { type: 'ovs', name: 'ovs_bridge' },
      subnet: '10.11.12.0/24',
      tunnel: { type: 'gre' },
      hostAddresses: 'auto',
      members: [
        { host: 'docker1', container: 'web1', address: '10.11.12.100' },
        { host: 'docker3', container: 'web2', vlan: 12 },
      ],
    },
  },
};
const TOKEN = 'graph-test-token-0123456789';

async function seeded() {
  const t = await testApp({ token: TOKEN });
  t.world.containers.set('web1', { id: 'c'.repeat(64), pid: 4242, running: true });
  t.world.containers.set('web2', { id: 'd'.repeat(64), pid: 4343, running: true });
  t.world.on((argv) => (argv[0] === 'nsenter' && argv.includes('-j') ? { stdout: JSON.stringify([{ ifname: 'lo' }]) } : undefined));
  for (const [name, ip] of [
    ['docker1', '10.10.10.101'],
    ['docker3', '192.168.50.101'],
    ['docker5', '10.10.10.105'],
  ] as const) {
    expect((await t.json('POST', '/hosts', localHost(name, { tunnelIp: ip }))).status).toBe(201);
  }
  expect((await t.json('PUT', '/topologies/seed', SEED)).status).toBe(201);
  // One bridge outside the topology: in the service-wide picture only.
  expect((await t.json('POST', '/bridges', { host: 'docker5', name: 'lonely', type: 'linux' })).status).toBe(201);
  t.world.calls = [];
  const get = (path: string) => t.json('GET', path);
  return { ...t, get };
}

/** The topology's one tunnel, as the API shows it. */
async function tunnelOf(t: Awaited<ReturnType<typeof seeded>>) {
  const topo = await (await t.get('/topologies/seed')).json();
  const id = Object.entries(topo.resources as Record<string, string>).find(([slot]) => slot.startsWith('tunnel:'))![1];
  const tun = await (await t.get(`/tunnels/${id}`)).json();
  expect(tun.overlayMtu).toBeGreaterThan(1400);
  return tun;
}

describe('graph exports', () => {
  it('mermaid: the topology with its hosts, bridges, members (address, VLAN) and the tunnel with its MTU', async () => {
    const t = await seeded();
    const r = await t.get('/topologies/seed/graph?format=mermaid');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/vnd.mermaid; charset=utf-8');
    const m = await r.text();
    const lines = m.split('\n');
    expect(lines[0]).toBe('flowchart LR');
    expect(lines).toContain('  subgraph host_docker1["docker1<br/>10.10.10.101"]');
    expect(lines).toContain('  subgraph host_docker3["docker3<br/>192.168.50.101"]');
    expect(m).toMatch(/ {4}br_\w+\["ovs_bridge \(ovs\)<br\/>10\.11\.12\.1\/24"\]/);
    expect(m).toMatch(/ {4}att_\w+\(\["web1 eth1<br\/>10\.11\.12\.100\/24"\]\)/);
    expect(m).toMatch(/ {4}att_\w+\(\["web2 eth1<br\/>10\.11\.12\.\d+\/24<br\/>vlan 12"\]\)/);
    const tun = await tunnelOf(t);
    expect(m).toContain(`  ${tun.endpoints[0].bridge} <==>|"gre key ${tun.key} mtu ${tun.overlayMtu}"| ${tun.endpoints[1].bridge}`);
    // Only what the topology owns: not docker5 and its bridge.
    expect(m).not.toContain('docker5');
    expect(m).not.toContain('lonely');
    // Reading a picture runs nothing on any host.
    expect(t.world.calls).toEqual([]);
  });

  it('dot and the service-wide picture (every host, also those outside topologies)', async () => {
    const t = await seeded();
    const d = await t.get('/topologies/seed/graph?format=dot');
    expect(d.headers.get('content-type')).toBe('text/vnd.graphviz; charset=utf-8');
    const dot = await d.text();
    expect(dot).toMatch(/^graph "seed" \{\n {2}rankdir=LR;/);
    expect(dot).toContain('subgraph "cluster_docker3" {');
    const tun = await tunnelOf(t);
    expect(dot).toContain(
      `"${tun.endpoints[0].bridge}" -- "${tun.endpoints[1].bridge}" [style=bold, label="gre key ${tun.key} mtu ${tun.overlayMtu}"];`,
    );
    const all = await (await t.get('/graph?format=dot')).text();
    expect(all).toMatch(/^graph "netplumb" \{/);
    expect(all).toContain('subgraph "cluster_docker5" {');
    expect(all).toMatch(/"br_\w+" \[shape=box, label="lonely \(linux\)"\];/);
    const mm = await (await t.get('/graph?format=mermaid')).text();
    expect(mm).toContain('subgraph host_docker5["docker5<br/>10.10.10.105"]');
  });

  it('svg (the default): well-formed, every resource named, no script, served so it cannot run anything', async () => {
    const t = await seeded();
    const r = await t.get('/topologies/seed/graph');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toBe("default-src 'none'");
    const svg = await r.text();
    const x = checkXml(svg.trim());
    expect(x.errors).toEqual([]);
    const topo = await (await t.get('/topologies/seed')).json();
    const tun = await tunnelOf(t);
    const names = [
      'docker1',
      'docker3',
      'web1',
      'web2',
      'ovs_bridge',
      'gre-docker3',
      'gre-docker1',
      '10.11.12.100/24',
      `mtu ${tun.overlayMtu}`,
    ];
    for (const n of names) expect(x.text).toContain(n);
    expect(x.elements.filter((e) => e.attrs['data-kind'] === 'bridge')).toHaveLength(2);
    expect(x.elements.filter((e) => e.attrs['data-kind'] === 'attachment')).toHaveLength(2);
    expect(x.elements.filter((e) => e.attrs['data-kind'] === 'tunnel').map((e) => e.attrs['data-id'])).toEqual(
      Object.entries(topo.resources as Record<string, string>)
        .filter(([slot]) => slot.startsWith('tunnel:'))
        .map(([, id]) => id),
    );
    expect(x.elements.some((e) => e.name === 'script' || 'style' in e.attrs || Object.keys(e.attrs).some((a) => a.startsWith('on')))).toBe(
      false,
    );
    const all = checkXml((await (await t.get('/graph?format=svg')).text()).trim());
    expect(all.errors).toEqual([]);
    for (const n of [...names, 'docker5', 'lonely']) expect(all.text).toContain(n);
  });

  it('bad format → 422 with a pointer; unknown topology → 404; no token → 401', async () => {
    const t = await seeded();
    const bad = await t.get('/graph?format=png');
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0]).toMatchObject({ pointer: '/format', in: 'query' });
    expect((await t.get('/topologies/nope/graph?format=dot')).status).toBe(404);
    expect((await t.app.request('/graph?format=mermaid')).status).toBe(401);
    expect(t.world.calls).toEqual([]);
  });

  it('Accept chooses the format when `format` is not given; one it cannot answer is 406 (issue 27)', async () => {
    const t = await seeded();
    const as = (path: string, accept: string) => t.json('GET', path, undefined, { Accept: accept });
    const m = await as('/topologies/seed/graph', 'text/vnd.mermaid');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe('text/vnd.mermaid; charset=utf-8');
    expect(m.headers.get('vary')).toBe('Accept');
    expect(await m.text()).toMatch(/^flowchart /);
    expect((await as('/graph', 'text/vnd.graphviz, text/vnd.mermaid;q=0.5')).headers.get('content-type')).toBe(
      'text/vnd.graphviz; charset=utf-8',
    );
    expect((await as('/graph', '*/*')).headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect((await t.get('/graph')).headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    // `format` given: Accept must admit it.
    const clash = await as('/graph?format=svg', 'text/vnd.mermaid');
    expect(clash.status).toBe(406);
    expect(await clash.json()).toMatchObject({ type: 'https://netplumb.dev/problems/not-acceptable', acceptable: ['image/svg+xml'] });
    const json = await as('/graph', 'application/json');
    expect(json.status).toBe(406);
    expect((await json.json()).acceptable).toEqual(['image/svg+xml', 'text/vnd.mermaid', 'text/vnd.graphviz']);
  });
});

describe('/ui', () => {
  it('served without the token, under a strict CSP, no inline script or style; it says a token is needed', async () => {
    const t = await testApp({ token: TOKEN });
    const r = await t.app.request('/ui');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await r.text();
    expect(html).toContain('<meta name="netplumb-auth" content="bearer" />');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script is external
    expect(html).not.toMatch(/<style|\sstyle=|\son\w+=/);
    const etag = (await t.app.request('/ui/app.css')).headers.get('etag')!;
    expect((await t.app.request('/ui/app.css', { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await t.app.request('/ui/favicon.svg')).headers.get('content-type')).toBe('image/svg+xml');
    expect((await t.app.request('/ui/nothing.js')).status).toBe(404);
  });

  it('the bundle is built from the package (no CDN) and is plain JavaScript for the browser', async () => {
    const t = await testApp();
    const r = await t.app.request('/ui/app.js');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const js = await r.text();
    expect(js.length).toBeGreaterThan(100_000); // elkjs is in it
    expect(js).not.toMatch(/https?:\/\/(?!www\.w3\.org|www\.eclipse\.org|eclipse\.org)[a-z0-9.-]+\.[a-z]{2,}\/[^"'\s]*\.(js|css)\b/);
    expect(js).not.toContain('process.env');
    expect((await t.app.request('/ui')).headers.get('content-security-policy')).toBeTruthy();
    expect(await (await t.app.request('/ui')).text()).toContain('content="none"');
  });

  it('behind the Host check like every page (DNS rebinding)', async () => {
    const t = await testApp({ config: { port: 8080 } });
    expect((await t.app.request('http://evil.example/ui', { headers: { Host: 'evil.example' } })).status).toBe(421);
    expect((await t.app.request('http://127.0.0.1:8080/ui', { headers: { Host: '127.0.0.1:8080' } })).status).toBe(200);
  });
});
