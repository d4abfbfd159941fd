/** Impairments: validation, backend choice per kernel, the plans (argv, stdin, undo) and reading them back. */
import { describe, expect, it } from 'vitest';
import { AttachmentImpairmentSchema, impairmentBackend, normalizeSpec, type TrafficControlFacts } from '../../src/model/impairments.js';
import { AttachmentPatchSchema } from '../../src/model/attachments.js';
import { zodFieldErrors } from '../../src/api/problems.js';
import { attachmentImpairmentSteps, nftScript, ovsPortLinkSteps, randomBytecode, tcLines, tcSteps } from '../../src/ops/impairments.js';
import {
  impairmentDrift,
  parseAttachmentImpairment,
  parseDropFilter,
  parseLossTable,
  parseOvsPortLink,
  parseQdiscs,
} from '../../src/ops/impairments-observe.js';
import { parseTrafficControl, trafficControlProbe } from '../../src/ops/probe.js';
import type { ZodError } from 'zod';

const NO_NETEM: TrafficControlFacts = {
  netem: false,
  tbf: true,
  htb: true,
  ingress: true,
  ifb: true,
  u32: true,
  mirred: true,
  bpf: true,
  nftNumgen: true,
  nftLimit: true,
  nftNetdevHooks: true,
  iptablesStatistic: true,
};
const ALL: TrafficControlFacts = { ...NO_NETEM, netem: true };

const pointers = (body: unknown) => {
  const r = AttachmentPatchSchema.safeParse(body);
  if (r.success) return [];
  return zodFieldErrors(r.error as unknown as ZodError, 'json').map((e) => e.pointer);
};

describe('impairment validation', () => {
  it('nonsense is refused with a pointer to the field: negative, loss over 100, jitter without delay, unknown fields', () => {
    expect(pointers({ impairment: { toContainer: { delayMs: -1 } } })).toEqual(['/impairment/toContainer/delayMs']);
    expect(pointers({ impairment: { fromContainer: { lossPercent: 100.5 } } })).toEqual(['/impairment/fromContainer/lossPercent']);
    expect(pointers({ impairment: { toContainer: { jitterMs: 5 } } })).toEqual(['/impairment/toContainer/jitterMs']);
    expect(pointers({ impairment: { toContainer: { jitterMs: 5, delayMs: 0 } } })).toEqual(['/impairment/toContainer/jitterMs']);
    expect(pointers({ impairment: { toContainer: { rateMbit: 0 } } })).toEqual(['/impairment/toContainer/rateMbit']);
    expect(pointers({ impairment: { toContainer: { corruptPercent: -0.1, duplicatePercent: 101 } } })).toEqual([
      '/impairment/toContainer/corruptPercent',
      '/impairment/toContainer/duplicatePercent',
    ]);
    expect(pointers({ impairment: { sideways: {} } })).toEqual(['/impairment']);
    expect(pointers({})).toEqual(['/']);
    expect(pointers({ link: 'sideways' })).toEqual(['/link']);
    // Sensible ones pass.
    expect(pointers({ impairment: { toContainer: { delayMs: 100, jitterMs: 10, lossPercent: 100 }, fromContainer: {} } })).toEqual([]);
    expect(pointers({ impairment: null, link: 'down' })).toEqual([]);
  });

  it('normalizes: zeros dropped, rate to kbit, percents to two decimals', () => {
    expect(normalizeSpec({ delayMs: 0, lossPercent: 0.123, rateMbit: 5.0004, duplicatePercent: 0 })).toEqual({
      lossPercent: 0.12,
      rateMbit: 5,
    });
    expect(AttachmentImpairmentSchema.parse({ toContainer: {} })).toEqual({ toContainer: {} });
  });
});

describe('what a kernel can do', () => {
  it('without netem: rate (tbf) and loss (nftables) yes; delay, jitter, corruption, duplication → 422 naming netem, per field', () => {
    const ok = impairmentBackend(NO_NETEM, { rateMbit: 5, lossPercent: 30 }, '/impairment/toContainer', 'docker1');
    expect(ok).toEqual({ backend: { netem: false, lossVia: 'nft' }, errors: [] });
    const bad = impairmentBackend(NO_NETEM, { delayMs: 100, jitterMs: 5, corruptPercent: 1, duplicatePercent: 1 }, '/x', 'docker1');
    expect(bad.errors.map((e) => e.pointer)).toEqual(['/x/delayMs', '/x/jitterMs', '/x/corruptPercent', '/x/duplicatePercent']);
    expect(bad.errors[0]!.detail).toMatch(/netem qdisc, which docker1's kernel lacks/);
  });

  it('with netem: delay and friends through netem, and loss too (silent to a local sender); nftables where netem is missing', () => {
    expect(impairmentBackend(ALL, { delayMs: 100, lossPercent: 1 }, '', 'h').backend).toEqual({ netem: true, lossVia: 'netem' });
    expect(impairmentBackend(ALL, { lossPercent: 1 }, '', 'h').backend).toEqual({ netem: true, lossVia: 'netem' });
    const none = impairmentBackend({ ...NO_NETEM, nftNumgen: false, tbf: false }, { lossPercent: 1, rateMbit: 1 }, '/p', 'h');
    expect(none.errors.map((e) => e.pointer)).toEqual(['/p/rateMbit', '/p/lossPercent']);
  });

  it('the probe is one command in a throwaway namespace, and its output parses (incomplete output: unknown)', () => {
    expect(trafficControlProbe.slice(0, 4)).toEqual(['unshare', '-n', 'sh', '-c']);
    const out = Object.entries(NO_NETEM)
      .map(([k, v]) => `${k}=${v ? 1 : 0}`)
      .join('\n');
    expect(parseTrafficControl(0, out)).toEqual(NO_NETEM);
    expect(parseTrafficControl(0, 'netem=1\n')).toBeNull();
    expect(parseTrafficControl(3, out)).toBeNull();
  });
});

describe('impairment plans', () => {
  const ends = { id: 'att_aaaaaaaaaaaaaaaaaaaaaaaaaa', hostId: 'host_h', hostIfname: 'npabc', ifname: 'eth1', nsPath: '/proc/42/ns/net' };
  const none = { toContainer: {}, fromContainer: {}, link: 'up' as const };

  it('tbf alone, or netem with tbf under it', () => {
    expect(tcLines('npabc', { rateMbit: 5 }, { netem: false, lossVia: null })).toEqual([
      ['qdisc', 'add', 'dev', 'npabc', 'root', 'handle', '10:', 'tbf', 'rate', '5000kbit', 'burst', '16000', 'latency', '100ms'],
    ]);
    expect(tcLines('npabc', { delayMs: 100, jitterMs: 10, rateMbit: 100, corruptPercent: 1 }, { netem: true, lossVia: 'nft' })).toEqual([
      ['qdisc', 'add', 'dev', 'npabc', 'root', 'handle', '1:', 'netem', 'limit', '10000', 'delay', '100ms', '10ms', 'corrupt', '1%'],
      [
        'qdisc',
        'add',
        'dev',
        'npabc',
        'parent',
        '1:1',
        'handle',
        '10:',
        'tbf',
        'rate',
        '100000kbit',
        'burst',
        '250000',
        'latency',
        '100ms',
      ],
    ]);
    expect(tcLines('x', { lossPercent: 3 }, { netem: true, lossVia: 'netem' })[0]).toContain('3%');
  });

  it('towards the container on the host end, from it inside the namespace, loss as one nftables table inside; undo puts back what was there', () => {
    // A kernel without the bpf classifier: loss from the container with nftables on the egress hook.
    const steps = attachmentImpairmentSteps(ends, { ...NO_NETEM, bpf: false }, none, {
      toContainer: { rateMbit: 5, lossPercent: 30 },
      fromContainer: { lossPercent: 10 },
      link: 'up',
    });
    expect(steps.map((s) => [s.argv.join(' '), s.undo?.join(' ') ?? null])).toEqual([
      ['tc qdisc del dev npabc root', null],
      ['tc -batch -', 'tc qdisc del dev npabc root'],
      ['nsenter --net=/proc/42/ns/net nft -f -', 'nsenter --net=/proc/42/ns/net nft -f -'],
    ]);
    expect(steps[0]!.okExitCodes).toEqual([0, 2]);
    expect(steps[1]!.stdin).toBe('qdisc add dev npabc root handle 10: tbf rate 5000kbit burst 16000 latency 100ms\n');
    expect(steps[2]!.stdin).toContain('chain to_container {');
    expect(steps[2]!.stdin).toContain('type filter hook ingress device "eth1" priority -500; policy accept;');
    expect(steps[2]!.stdin).toContain('numgen random mod 10000 < 3000 counter drop');
    expect(steps[2]!.stdin).toContain('type filter hook egress device "eth1"');
    expect(steps[2]!.undoStdin).toBe(nftScript('netplumb_att_aaaaaaaaaaaaaaaaaaaaaaaaaa', []));
  });

  it('loss from the container without netem: silent tc-drop (htb + classic-BPF random filter → a down IFB), the device made first and removed last', () => {
    const drop = 'npdaaaaaaaaaaaa';
    const on = attachmentImpairmentSteps(ends, NO_NETEM, none, { ...none, fromContainer: { lossPercent: 30, rateMbit: 2 } });
    expect(on.map((s) => s.argv.join(' '))).toEqual([
      `nsenter --net=/proc/42/ns/net ip link add name ${drop} type ifb`,
      'nsenter --net=/proc/42/ns/net tc qdisc del dev eth1 root',
      'nsenter --net=/proc/42/ns/net tc -batch -',
    ]);
    expect(on[0]!.undo!.join(' ')).toBe(`nsenter --net=/proc/42/ns/net ip link del dev ${drop}`);
    expect(on[2]!.stdin).toBe(
      [
        'qdisc add dev eth1 root handle 1: htb default 1',
        'class add dev eth1 parent 1: classid 1:1 htb rate 100gbit quantum 60000',
        'qdisc add dev eth1 parent 1:1 handle 10: tbf rate 2000kbit burst 16000 latency 100ms',
        `filter add dev eth1 parent 1: protocol all prio 1 bpf bytecode "${randomBytecode(30)}" action mirred egress redirect dev ${drop}`,
      ].join('\n') + '\n',
    );
    expect(randomBytecode(30)).toBe('4,32 0 0 4294963256,53 1 0 1288490189,6 0 0 4294967295,6 0 0 0');
    const off = attachmentImpairmentSteps(ends, NO_NETEM, { ...none, fromContainer: { lossPercent: 30 } }, none);
    expect(off.map((s) => s.argv.join(' '))).toEqual([
      'nsenter --net=/proc/42/ns/net tc qdisc del dev eth1 root',
      `nsenter --net=/proc/42/ns/net ip link del dev ${drop}`,
      // a changed loss always rewrites the (here empty) loss table too
      'nsenter --net=/proc/42/ns/net nft -f -',
    ]);
    const filter = JSON.stringify([
      {
        kind: 'bpf',
        options: {
          bytecode: {
            insns: [
              { code: 32, k: 4294963256 },
              { code: 53, k: 1288490189 },
            ],
          },
        },
      },
    ]);
    expect(parseDropFilter({ exitCode: 0, stdout: filter })).toBe(30);
  });

  it('a live change touches only what differs; its undo restores the previous qdiscs', () => {
    const prev = { toContainer: { rateMbit: 5 }, fromContainer: { rateMbit: 5 }, link: 'up' as const };
    const steps = attachmentImpairmentSteps(ends, NO_NETEM, prev, { ...prev, toContainer: { rateMbit: 10 } });
    expect(steps.map((s) => s.argv.join(' '))).toEqual(['tc qdisc del dev npabc root', 'tc -batch -']);
    expect(steps[0]!.undoStdin).toBe('qdisc add dev npabc root handle 10: tbf rate 5000kbit burst 16000 latency 100ms\n');
    expect(attachmentImpairmentSteps(ends, NO_NETEM, prev, prev)).toEqual([]);
  });

  it('the cable: the host end down (its veth peer loses carrier), undo up; clearing removes qdiscs and the table', () => {
    const down = attachmentImpairmentSteps(ends, NO_NETEM, none, { ...none, link: 'down' });
    expect(down.map((s) => [s.argv.join(' '), s.undo!.join(' ')])).toEqual([['ip link set dev npabc down', 'ip link set dev npabc up']]);
    const clear = attachmentImpairmentSteps(
      ends,
      NO_NETEM,
      { toContainer: { lossPercent: 5 }, fromContainer: { rateMbit: 1 }, link: 'up' },
      none,
    );
    expect(clear.map((s) => s.argv.join(' '))).toEqual([
      'nsenter --net=/proc/42/ns/net tc qdisc del dev eth1 root',
      'nsenter --net=/proc/42/ns/net nft -f -',
    ]);
    expect(clear[1]!.stdin).toBe(
      'table netdev netplumb_att_aaaaaaaaaaaaaaaaaaaaaaaaaa\ndelete table netdev netplumb_att_aaaaaaaaaaaaaaaaaaaaaaaaaa\n',
    );
  });

  it('a changed loss always rewrites the loss table, even when the facts now say netem (no stale rule left)', () => {
    const steps = attachmentImpairmentSteps(ends, ALL, { ...none, toContainer: { lossPercent: 5 } }, none);
    const nft = steps.find((s) => s.argv.includes('nft'));
    expect(nft?.stdin).toBe(nftScript('netplumb_att_aaaaaaaaaaaaaaaaaaaaaaaaaa', []));
  });

  it('OVS tunnel ports: link down is OpenFlow no-forward + no-receive, undone by forward + receive', () => {
    expect(
      ovsPortLinkSteps('h', 'ovs_bridge', 'gre-docker3', 'up', 'down').map((s) => [s.argv.slice(3).join(' '), s.undo!.slice(3).join(' ')]),
    ).toEqual([
      ['ovs_bridge gre-docker3 no-forward', 'ovs_bridge gre-docker3 forward'],
      ['ovs_bridge gre-docker3 no-receive', 'ovs_bridge gre-docker3 receive'],
    ]);
    expect(
      parseOvsPortLink(
        { exitCode: 0, stdout: ' 2(gre-docker3): addr:56:51\n     config:     NO_RECV NO_FWD\n     state:      0\n' },
        'gre-docker3',
      ),
    ).toBe('down');
    expect(parseOvsPortLink({ exitCode: 0, stdout: ' 2(gre-docker3): addr:56:51\n     config:     0\n' }, 'gre-docker3')).toBe('up');
    expect(parseOvsPortLink({ exitCode: 0, stdout: ' 1(other): addr:56:51\n     config:     NO_FWD\n' }, 'gre-docker3')).toBeNull();
  });

  it('tcSteps: nothing before means no undo for the clearing step', () => {
    const s = tcSteps(
      'h',
      { dev: 'd', nsPath: null },
      'x',
      { spec: {}, backend: { netem: false, lossVia: null } },
      { spec: { rateMbit: 1 }, backend: { netem: false, lossVia: null } },
    );
    expect(s[0]!.undo).toBeUndefined();
    expect(s[1]!.undoWhenFailed).toBe(true);
  });
});

describe('reading impairments back', () => {
  const tbf = JSON.stringify([{ kind: 'tbf', handle: '10:', root: true, options: { rate: 625000, burst: 16000, lat: 100000 } }]);
  const netem = JSON.stringify([
    {
      kind: 'netem',
      handle: '1:',
      root: true,
      options: {
        limit: 10000,
        delay: { delay: 0.1, jitter: 0.01, correlation: 0 },
        'loss-random': { loss: 0.05 },
        corrupt: { corrupt: 0.01 },
      },
    },
    { kind: 'tbf', handle: '10:', parent: '1:1', options: { rate: 12500000 } },
  ]);
  const nft = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'netdev', name: 'netplumb_att_x' } },
      { chain: { family: 'netdev', table: 'netplumb_att_x', name: 'to_container', hook: 'ingress' } },
      {
        rule: {
          family: 'netdev',
          table: 'netplumb_att_x',
          chain: 'to_container',
          expr: [
            { match: { op: '<', left: { numgen: { mode: 'random', mod: 10000, offset: 0 } }, right: 3000 } },
            { counter: { packets: 3, bytes: 252 } },
            { drop: null },
          ],
        },
      },
    ],
  });

  it('tbf rate, netem fields, nftables loss', () => {
    expect(parseQdiscs({ exitCode: 0, stdout: tbf })).toEqual({ rateMbit: 5 });
    expect(parseQdiscs({ exitCode: 0, stdout: netem })).toEqual({
      delayMs: 100,
      jitterMs: 10,
      lossPercent: 5,
      corruptPercent: 1,
      rateMbit: 100,
    });
    expect(parseQdiscs({ exitCode: 0, stdout: JSON.stringify([{ kind: 'noqueue', handle: '0:', root: true, options: {} }]) })).toEqual({});
    expect(parseLossTable({ exitCode: 0, stdout: nft })).toEqual(new Map([['to_container', 30]]));
    expect(parseLossTable({ exitCode: 1, stdout: '' })).toEqual(new Map());
  });

  it('an attachment as observed, and drift in the shared shape', () => {
    const o = parseAttachmentImpairment({
      hostLink: { exitCode: 0, stdout: JSON.stringify([{ ifname: 'npabc', flags: ['BROADCAST', 'MULTICAST'] }]) },
      hostQdisc: { exitCode: 0, stdout: tbf },
      innerQdisc: { exitCode: 0, stdout: '[]' },
      innerNft: { exitCode: 0, stdout: nft },
    });
    expect(o).toEqual({ toContainer: { rateMbit: 5, lossPercent: 30 }, fromContainer: {}, link: 'down' });
    expect(
      impairmentDrift([
        { field: 'impairment.toContainer', desired: { lossPercent: 30, rateMbit: 5 }, actual: o.toContainer },
        { field: 'impairment.fromContainer', desired: { rateMbit: 1 }, actual: o.fromContainer },
        { field: 'link', desired: 'up', actual: o.link },
      ]),
    ).toEqual([
      { field: 'impairment.fromContainer', desired: { rateMbit: 1 }, actual: {} },
      { field: 'link', desired: 'up', actual: 'down' },
    ]);
  });
});
