/** The shared graph module: Mermaid, DOT and SVG from the same input (the CLI, the exports and /ui use it). */
import { describe, expect, it } from 'vitest';
import { layoutGraph } from '../../src/graph/layout.js';
import { driftOf, resourceNames, type GraphInput } from '../../src/graph/model.js';
import { renderSvg } from '../../src/graph/svg.js';
import { dot, mermaid } from '../../src/graph/text.js';
import { checkXml } from '../helpers/xml.js';

const br = (id: string, host: string, addr: string) => ({ id, hostName: host, name: 'np_web', type: 'ovs', addresses: [addr] });
const input = (): GraphInput => ({
  title: 'seed',
  hosts: [{ name: 'd1' }, { name: 'd3' }],
  bridges: [br('br_1', 'd1', '10.0.0.1/24'), br('br_3', 'd3', '10.0.0.2/24')],
  tunnels: [
    {
      id: 'tun_1',
      type: 'gre',
      key: 7,
      overlayMtu: 1458,
      endpoints: [
        { bridge: 'br_1', hostName: 'd1', portName: 'gre-d3' },
        { bridge: 'br_3', hostName: 'd3', portName: 'gre-d1' },
      ],
    },
  ],
  attachments: [
    { id: 'att_1', hostName: 'd1', bridge: 'br_1', target: { container: 'web1' }, ifname: 'eth1', addresses: ['10.0.0.100/24'] },
    { id: 'att_2', hostName: 'd3', bridge: 'br_3', target: { netns: 'ns<2>' }, ifname: 'eth1', addresses: [], vlan: 12 },
  ],
});

describe('text formats', () => {
  it('an attachment on a host NIC (macvlan, ipvlan, phys): drawn in its host, named by its NIC, no bridge edge', async () => {
    const g = input();
    g.attachments.push({
      id: 'att_9',
      hostName: 'd1',
      bridge: null,
      type: 'macvlan',
      parent: { ref: 'eth0', name: 'eth0' },
      target: { container: 'web9' },
      ifname: 'eth1',
      addresses: ['10.88.0.10/24'],
    });
    const m = mermaid(g);
    expect(m).toContain('att_9(["web9 eth1<br/>10.88.0.10/24<br/>macvlan on eth0"])');
    expect(m).not.toMatch(/att_9 ---/);
    expect(dot(g)).not.toMatch(/"att_9" --/);
    const svg = renderSvg(await layoutGraph(g));
    expect(svg).toContain('macvlan on eth0');
    checkXml(svg);
  });

  it('mermaid: hosts as subgraphs, members on bridges, tunnels labelled type/key/MTU', () => {
    expect(mermaid(input())).toBe(
      [
        'flowchart LR',
        '  subgraph host_d1["d1"]',
        '    br_1["np_web (ovs)<br/>10.0.0.1/24"]',
        '    att_1(["web1 eth1<br/>10.0.0.100/24"])',
        '  end',
        '  subgraph host_d3["d3"]',
        '    br_3["np_web (ovs)<br/>10.0.0.2/24"]',
        '    att_2(["netns ns<2> eth1<br/>vlan 12"])',
        '  end',
        '  att_1 --- br_1',
        '  att_2 --- br_3',
        '  br_1 <==>|"gre key 7 mtu 1458"| br_3',
      ].join('\n'),
    );
  });
  it('DOT: clusters per host, \\n line breaks, quotes escaped', () => {
    const g = input();
    g.hosts[0] = { name: 'd1', tunnelIp: '10.10.10.101' };
    g.bridges[0]!.name = 'a"b';
    const d = dot(g);
    expect(d).toContain('subgraph "cluster_d1" {');
    expect(d).toContain('label="d1\\n10.10.10.101";');
    expect(d).toContain('"br_1" [shape=box, label="a\\"b (ovs)\\n10.0.0.1/24"];');
    expect(d).toContain('"br_1" -- "br_3" [style=bold, label="gre key 7 mtu 1458"];');
    // No raw newline inside a quoted string: every line's unescaped quotes pair up.
    for (const line of d.split('\n')) expect((line.replace(/\\./g, '').match(/"/g) ?? []).length % 2).toBe(0);
  });
  it('VXLAN says vni; drift is marked in both formats', () => {
    const g = input();
    g.tunnels[0] = { ...g.tunnels[0]!, type: 'vxlan', key: 42 };
    g.drift = { br_3: { status: 'missing', details: [] }, tun_1: { status: 'drift', details: [], missingEnds: [0] } };
    const m = mermaid(g);
    expect(m).toContain('br_1 <==>|"vxlan vni 42 mtu 1458<br/>MISSING on d1"| br_3');
    expect(m).toContain('class br_3 missing');
    expect(dot(g)).toContain('"br_3" [shape=box, label="np_web (ovs)\\n10.0.0.2/24", style=dashed, color=red];');
  });
});

describe('SVG', () => {
  it('is well-formed, shows every name, escapes markup in names', async () => {
    const g = input();
    const svg = renderSvg(await layoutGraph(g));
    const x = checkXml(svg);
    expect(x.errors).toEqual([]);
    expect(x.elements[0]).toMatchObject({ name: 'svg', attrs: { xmlns: 'http://www.w3.org/2000/svg' } });
    for (const n of resourceNames(g)) expect(x.text).toContain(n);
    expect(x.text).toContain('gre key 7 mtu 1458');
    expect(x.text).toContain('10.0.0.100/24');
    expect(svg).toContain('ns&lt;2&gt;');
    // Exports carry no script, no inline style and no focus attributes.
    expect(x.elements.map((e) => e.name)).not.toContain('script');
    expect(x.elements.some((e) => 'style' in e.attrs || 'tabindex' in e.attrs)).toBe(false);
  });
  it('lays hosts out side by side with their bridges inside', async () => {
    const s = await layoutGraph(input());
    const [h1, h3] = s.hosts;
    const inside = (b: { x: number; y: number; w: number; h: number }, h: typeof b) =>
      b.x >= h.x && b.y >= h.y && b.x + b.w <= h.x + h.w && b.y + b.h <= h.y + h.h;
    expect(
      inside(
        s.nodes.find((n) => n.id === 'br_1')!,
        h1!,
      ),
    ).toBe(true);
    expect(
      inside(
        s.nodes.find((n) => n.id === 'br_3')!,
        h3!,
      ),
    ).toBe(true);
    expect(h1!.x + h1!.w).toBeLessThan(h3!.x);
    const t = s.edges.find((e) => e.id === 'tun_1')!;
    expect(t.points.length).toBeGreaterThanOrEqual(2);
    expect(t.label?.lines).toEqual(['gre key 7 mtu 1458']);
  });
  it('draws a missing tunnel end as missing, interactive items are focusable', async () => {
    const g = input();
    g.drift = {
      tun_1: driftOf({
        observed: { drift: [{ field: 'd1:exists', desired: true, actual: false }], endpoints: [{ exists: false }, { exists: true }] },
      }),
    };
    const svg = renderSvg(await layoutGraph(g), { interactive: true });
    expect(checkXml(svg).errors).toEqual([]);
    expect(svg).toMatch(/<path class="np-tunnel-end np-end-missing" data-end="0"[^>]*stroke-dasharray/);
    expect(svg).toContain('✕ gre-d3 missing');
    expect(svg).toContain('end missing on d1');
    expect(svg).toMatch(/data-id="br_1" data-kind="bridge" data-status="ok" tabindex="0" role="button" aria-label="bridge d1\/np_web"/);
  });
  it('an empty service still gives a valid picture', async () => {
    const svg = renderSvg(await layoutGraph({ title: 'netplumb', hosts: [], bridges: [], tunnels: [], attachments: [] }));
    expect(checkXml(svg).errors).toEqual([]);
    expect(svg).toContain('nothing to draw yet');
  });
  it('the checker itself rejects what is not well-formed', () => {
    expect(checkXml('<a><b></a></b>').errors.length).toBeGreaterThan(0);
    expect(checkXml('<a x="1" x="2"/>').errors).toEqual(['attribute x twice in <a>']);
    expect(checkXml('<a>&nbsp;</a>').errors.length).toBe(1);
    expect(checkXml('<a>1 < 2</a>').errors.length).toBeGreaterThan(0);
    expect(checkXml('<a/><b/>').errors).toEqual(['2 root elements']);
  });
});

describe('driftOf', () => {
  it('reads the one drift shape of any kind', () => {
    expect(driftOf({ observed: { drift: [], exists: true } }).status).toBe('ok');
    expect(driftOf({ observed: { drift: [{ field: 'exists', desired: true, actual: false }], exists: false } })).toMatchObject({
      status: 'missing',
      details: ['it: missing on the host'],
    });
    expect(driftOf({ observed: { drift: [{ field: 'mtu', desired: 1450, actual: 1500 }] } })).toEqual({
      status: 'drift',
      details: ['mtu: want 1450, host has 1500'],
    });
    // A kind the service cannot observe answers without `observed`.
    expect(driftOf({}).status).toBe('unavailable');
    const both = driftOf({ observed: { drift: [], endpoints: [{ exists: false }, { exists: false }] } });
    expect(both).toMatchObject({ status: 'missing', missingEnds: [0, 1] });
  });
});
