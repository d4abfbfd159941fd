import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('configuration from the environment', () => {
  it('defaults that just work locally', () => {
    expect(loadConfig({})).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      token: undefined,
      dbPath: './data/netplumb.db',
      idempotencyTtlMs: 86_400_000,
      defaultWaitMs: 30_000,
      maxBodyBytes: 1 << 20,
    });
    expect(loadConfig({ NETPLUMB_DB: ':memory:', PORT: '0' })).toMatchObject({ dbPath: ':memory:', port: 0 });
  });

  it('the reconcile loop: on by default every 60 s; NETPLUMB_RECONCILE=off, NETPLUMB_RECONCILE_INTERVAL_S', () => {
    expect(loadConfig({}).reconcile).toEqual({ enabled: true, intervalMs: 60_000 });
    expect(loadConfig({ NETPLUMB_RECONCILE: 'off', NETPLUMB_RECONCILE_INTERVAL_S: '5' }).reconcile).toEqual({
      enabled: false,
      intervalMs: 5000,
    });
    expect(() => loadConfig({ NETPLUMB_RECONCILE: 'maybe' })).toThrow(/NETPLUMB_RECONCILE/);
    expect(() => loadConfig({ NETPLUMB_RECONCILE_INTERVAL_S: '-1' })).toThrow(/NETPLUMB_RECONCILE_INTERVAL_S/);
  });

  it('without a token, refuses to listen anywhere but loopback and says so', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/NETPLUMB_TOKEN/);
    expect(loadConfig({ HOST: '0.0.0.0', NETPLUMB_TOKEN: 'a-long-enough-token-1234' }).host).toBe('0.0.0.0');
  });

  it('rejects nonsense with the variable named', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ NETPLUMB_TOKEN: 'short' })).toThrow(/NETPLUMB_TOKEN/);
  });
});
