/**
 * An integration world: a sandbox of simulated Docker hosts, the real service (real executors over SSH)
 * served on loopback, and the SDK pointed at it.
 */
import { spawn } from 'node:child_process';
import type { ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.js';
import { serveApp } from '../../src/listen.js';
import type { AppDeps } from '../../src/deps.js';
import { createDeps, hostExecutor } from '../../src/services.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startReconciler, type Reconciler, type ReconcilerOptions } from '../../src/reconcile/loop.js';
import { createClient, type NetplumbClient } from '../../sdk/src/index.js';
import { down, SEED_HOSTS, up, type Sandbox, type SandboxHostSpec } from '../testbed/sandbox.js';
import type { Observability } from '../../src/observability/index.js';

export interface World {
  sb: Sandbox;
  deps: AppDeps;
  np: NetplumbClient;
  baseUrl: string;
  /** The reconcile loop, when startWorld was asked for one. */
  reconciler: Reconciler | null;
  /** Registers every sandbox host through the API (SSH executor, pinned host key, tunnelIp = underlay). */
  registerHosts(): Promise<void>;
  /** Runs argv on a registered host over the service's own SSH connection (as a user would over ssh). */
  ssh(host: string, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export function sshHostBody(sb: Sandbox, name: string) {
  const h = sb.host(name);
  return {
    name,
    executor: {
      kind: 'ssh' as const,
      address: h.mgmtIp,
      port: h.sshPort,
      user: 'root',
      privateKeyPath: sb.clientKeyPath,
      hostKeySha256: h.hostKeySha256,
    },
    tunnelIp: h.underlayIp,
  };
}

export async function startWorld(
  prefix: string,
  hosts: SandboxHostSpec[] = SEED_HOSTS,
  opts: {
    withDocker?: boolean;
    token?: string;
    reconcile?: ReconcilerOptions;
    /** The app's metrics, logs and traces (default: createDeps's, logs off). */
    obs?: Observability;
    /** Seals inline private keys (NETPLUMB_SECRET_KEY): without one they are refused. */
    secretKey?: Buffer;
  } = {},
): Promise<World> {
  await down(prefix).catch(() => undefined);
  const { token, reconcile, obs, secretKey, ...sandboxOpts } = opts;
  const sb = await up({ prefix, hosts, ...sandboxOpts });
  let server: ServerType | undefined;
  try {
    const store = new SqliteStore(':memory:');
    const deps = await createDeps(
      store,
      { defaultWaitMs: 60_000, idempotencyTtlMs: 86_400_000, maxBodyBytes: 1 << 20, token, secretKey },
      undefined,
      undefined,
      obs,
    );
    const app = createApp(deps);
    const reconciler = reconcile ? startReconciler(deps, reconcile) : null;
    await new Promise<void>((resolve) => {
      server = serveApp(app, { port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    const baseUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
    const np = createClient({ baseUrl, token });
    return {
      sb,
      deps,
      np,
      baseUrl,
      reconciler,
      async registerHosts() {
        for (const h of sb.hosts) await np.hosts.create(sshHostBody(sb, h.name));
      },
      async ssh(host, argv) {
        return await (await hostExecutor(deps, host)).run(argv);
      },
      async close() {
        await reconciler?.stop();
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        await deps.runner.drain();
        await deps.hosts.closeAll();
        await store.close();
        await sb.down();
      },
    };
  } catch (e) {
    server?.close();
    await sb.down();
    throw e;
  }
}

/**
 * tcpdump on the router's link to one host (a namespace the sandbox made), resolved once it listens; `stop` ends it
 * (SIGINT, after a moment to print what it has: exactly the process started here) and gives what it saw.
 */
export async function captureOnRouter(
  sb: Sandbox,
  host: string,
  filter: string,
  maxSeconds = 60,
): Promise<{ stop: () => Promise<string> }> {
  const p = spawn(
    'ip',
    ['netns', 'exec', sb.routerNetns, 'timeout', String(maxSeconds), 'tcpdump', '-l', '-n', '-i', sb.routerIfaces[host]!, filter],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('tcpdump did not start')), 10_000);
    p.stderr.on('data', (d) => {
      if (String(d).includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`tcpdump exited ${c}`));
    });
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve(out);
        p.once('exit', () => resolve(out));
        setTimeout(() => p.kill('SIGINT'), 300);
      }),
  };
}
