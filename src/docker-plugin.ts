/**
 * Serving the Docker plugin to every host's dockerd: one small HTTP server per host (the protocol app of
 * src/api/plugin/protocol.ts with that host's backend), fed by the host's executor — a listening unix socket for a
 * local host, streams of OpenSSH stream-local forwarding for an SSH host (the host is known from the connection).
 */
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createPluginProtocol } from './api/plugin/protocol.js';
import type { HostServices } from './exec/pool.js';
import { hostTarget } from './jobs/host-target.js';
import type { JobRunner, PluginServer } from './jobs/runner.js';
import { dockerPluginBackend } from './kinds/docker-plugin.js';
import { DOCKER_RECORD, PLUGIN_SOCKET_PATH } from './model/docker-plugin.js';
import type { Logger } from './observability/index.js';
import type { Store } from './store/types.js';

export interface DockerPluginDeps {
  store: Store;
  runner: JobRunner;
  hosts: HostServices;
  logger?: Logger;
}

export class DockerPluginServer implements PluginServer {
  private readonly servers = new Map<string, Server>();

  constructor(
    private readonly deps: DockerPluginDeps,
    private readonly socketPath = PLUGIN_SOCKET_PATH,
  ) {}

  private serverFor(hostId: string): Server {
    let server = this.servers.get(hostId);
    if (!server) {
      const app = createPluginProtocol(dockerPluginBackend(this.deps, hostId), {
        onCall: (method, ms, error) =>
          error
            ? this.deps.logger?.warn({ component: 'docker-plugin', host: hostId, method, ms: Math.round(ms) }, error)
            : this.deps.logger?.debug({ component: 'docker-plugin', host: hostId, method, ms: Math.round(ms) }, method),
      });
      const listener = getRequestListener(app.fetch);
      server = createServer((req, res) => {
        // dockerd's plugin client names the socket path as the Host (`%2Frun%2Fdocker%2Fplugins%2Fnetplumb.sock`),
        // which is no URL host: the method is all the protocol needs.
        req.headers.host = 'plugin';
        return listener(req, res);
      });
      // Each stream is one connection from dockerd (its plugin client keeps them alive between calls).
      server.keepAliveTimeout = 60_000;
      this.servers.set(hostId, server);
    }
    return server;
  }

  /** The plugin socket on the host (idempotent: an SSH host's forward is kept and bound again on reconnect). */
  async serve(hostId: string): Promise<void> {
    const target = await hostTarget(this.deps.store, hostId);
    if (!target) throw new Error(`host ${hostId} no longer exists`);
    const executor = this.deps.hosts.executor(target);
    if (!executor.serveUnixSocket) return;
    const server = this.serverFor(hostId);
    await executor.serveUnixSocket(this.socketPath, (stream) => server.emit('connection', stream));
  }

  /** At start-up: every host with a Docker network on netplumb gets its socket back (dockerd may be asking already). */
  async serveKnownHosts(): Promise<void> {
    const hostIds = new Set(
      (await this.deps.store.allResources(DOCKER_RECORD.network)).map((r) => String((r.data as { hostId: unknown }).hostId)),
    );
    await Promise.all(
      [...hostIds].map(async (id) => {
        try {
          await this.serve(id);
        } catch (e) {
          this.deps.logger?.warn(
            { component: 'docker-plugin', host: id },
            `cannot serve the Docker plugin there yet: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
      }),
    );
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }
}
