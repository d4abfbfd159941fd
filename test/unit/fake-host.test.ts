import { describe, expect, it } from 'vitest';
import { FakeWorld } from '../helpers/fake-host.js';

describe('the fake host', () => {
  it('answers the command shapes plans use, and records anything else as unexpected (which fails a test)', async () => {
    const world = new FakeWorld();
    const ex = world.factory()({ kind: 'local', label: 'h1' }).executor;
    expect(
      (await ex.run(['ovs-vsctl', '--timeout=10', '--may-exist', 'add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'stp_enable=false']))
        .exitCode,
    ).toBe(0);
    expect((await ex.run(['nsenter', '--net=/proc/42/ns/net', 'ip', 'addr', 'replace', '10.0.0.1/24', 'dev', 'eth1'])).exitCode).toBe(0);
    // a misspelled subcommand, an unknown tool, a bad interface name
    expect((await ex.run(['ovs-vsctl', '--timeout=10', 'add-bridge', 'br0'])).exitCode).toBe(127);
    expect((await ex.run(['rm', '-rf', '/'])).exitCode).toBe(127);
    expect((await ex.run(['ip', 'link', 'set', 'dev', 'a-name-that-is-too-long', 'up'])).exitCode).toBe(127);
    expect(world.unexpected.splice(0).map((c) => c.argv[0])).toEqual(['ovs-vsctl', 'rm', 'ip']);
  });
});
