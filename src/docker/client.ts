import http from 'node:http';
import { inspect } from 'node:util';
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { lazyModule } from '../lazy.js';
import type { SshExecutor } from '../exec/ssh.js';

const loadDockerode = lazyModule<typeof Dockerode>('dockerode');

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export type DockerClientOptions =
  | {
      kind: 'local';
      /** Default: the unix socket in DOCKER_HOST (from env, then process.env), else /var/run/docker.sock. */
      socketPath?: string;
      /** The environment the host's commands run with (e.g. the LocalExecutor's DOCKER_HOST). */
      env?: Record<string, string>;
    }
  | {
      kind: 'ssh';
      executor: SshExecutor;
      /** A socket on the remote host; default: whatever `docker` finds there (its DOCKER_HOST or /var/run/docker.sock). */
      socketPath?: string;
    };

/**
 * A Dockerode for a host. Locally it talks to the unix socket. Over SSH every HTTP
 * connection is a `docker system dial-stdio` channel on the executor's persistent
 * connection, so Docker is reached exactly as the host's other commands are: same
 * pinned host key, no port to open, no second login.
 */
export function createDockerClient(opts: DockerClientOptions): Dockerode {
  if (opts.kind === 'local') {
    const socketPath =
      opts.socketPath ?? unixSocketOf(opts.env?.DOCKER_HOST) ?? unixSocketOf(process.env.DOCKER_HOST) ?? DEFAULT_DOCKER_SOCKET;
    // host/protocol undefined on purpose: docker-modem fills its defaults from DOCKER_HOST,
    // and a tcp:// there would otherwise win over socketPath.
    return withoutRedirects(new (loadDockerode())({ socketPath, host: undefined, port: undefined, protocol: undefined }));
  }
  const argv = opts.socketPath ? ['docker', '-H', `unix://${opts.socketPath}`, 'system', 'dial-stdio'] : ['docker', 'system', 'dial-stdio'];
  const agent = new DialStdioAgent(opts.executor, argv);
  // docker-modem hands `agent` to http.request; host and port only fill the Host header and URL.
  const options: Dockerode.DockerOptions & { agent: http.Agent } = {
    protocol: 'http',
    host: 'docker',
    port: 2375,
    socketPath: undefined,
    agent,
  };
  return withoutRedirects(new (loadDockerode())(options));
}

/**
 * docker-modem follows HTTP redirects itself, with a bare request that has neither our agent
 * nor our socket (and no error handler: a failure there is an uncaught exception). The Docker
 * API has no reason to redirect us (Go's mux does so only for unclean paths), so refuse: a
 * redirect becomes an ordinary error on the original request.
 */
function withoutRedirects(docker: Dockerode): Dockerode {
  // buildRequest is private in docker-modem's types: reaching it is the point of this wrapper.
  const modem = docker.modem as unknown as { buildRequest: (options: Record<string, unknown>, ...rest: unknown[]) => unknown };
  const buildRequest = modem.buildRequest.bind(modem);
  modem.buildRequest = (options, ...rest) => buildRequest(Object.assign(options, { maxRedirects: 0 }), ...rest);
  return docker;
}

/** How long an idle Docker stream is kept for the next request (a job's lookups come close together). */
export const DOCKER_STREAM_IDLE_MS = 5_000;

/**
 * An http.Agent whose connections are command streams (`docker system dial-stdio`) on an SshExecutor. Kept alive
 * between requests, so a host's Docker lookups do not each open a channel and start a login shell: at most two
 * idle streams are kept, each closed after DOCKER_STREAM_IDLE_MS unused, so an idle pool never holds channels the
 * executor's commands need for long.
 */
export class DialStdioAgent extends http.Agent {
  private readonly idleTimers = new WeakMap<Duplex, NodeJS.Timeout>();

  constructor(
    private readonly executor: SshExecutor,
    private readonly argv: readonly string[],
    private readonly idleMs = DOCKER_STREAM_IDLE_MS,
  ) {
    // At most three streams at once (one may be the reconcile loop's event stream, held open): a burst of lookups
    // queues on them instead of taking every channel.
    super({ keepAlive: true, maxSockets: 3, maxFreeSockets: 2 });
  }

  /** Streams open (in use or kept free) and requests queued for one. */
  stats(): Record<string, number> {
    const count = (o: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(o).reduce((n, l) => n + (l?.length ?? 0), 0);
    // Streams the host has closed (ssh2: incoming state closed) that still count as the agent's: a leak if it stays.
    const closedByHost = Object.values(this.sockets)
      .flat()
      .filter((s) => (s as unknown as { incoming?: { state?: string } }).incoming?.state === 'closed').length;
    return {
      dockerStreams: count(this.sockets),
      dockerStreamsFree: count(this.freeSockets),
      dockerStreamsClosedByHost: closedByHost,
      dockerRequestsQueued: count(this.requests),
    };
  }

  /** docker-modem formats its request options (this agent included) for a debug line even with debug off. */
  [inspect.custom](): string {
    return 'DialStdioAgent';
  }

  override keepSocketAlive(socket: Duplex): boolean {
    clearTimeout(this.idleTimers.get(socket));
    const timer = setTimeout(() => {
      // An ssh2 channel's destroy() only ends it and asks the server to close: `destroyed` stays false and 'close'
      // comes a round trip later. Leave the free list now ('agentRemove' is how http.Agent is told; it drops a free
      // socket only once the socket is no longer writable, hence after destroy), so no request in that round trip is
      // written to a channel that is going away.
      socket.destroy();
      socket.emit('agentRemove');
    }, this.idleMs);
    timer.unref();
    this.idleTimers.set(socket, timer);
    return true;
  }

  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    clearTimeout(this.idleTimers.get(socket));
    this.idleTimers.delete(socket);
    // Node's own reuseSocket removes the error listener it put on the socket while it was free.
    super.reuseSocket(socket, request);
  }

  override createConnection(
    _options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    this.executor.openStream(this.argv).then(
      (stream) => callback?.(null, asSocket(stream)),
      // Node's typing demands a stream even with an error; http ignores it then.
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** http calls a few net.Socket methods on its connections; an SSH channel has none of them. */
function asSocket(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const name of ['setNoDelay', 'setKeepAlive', 'ref', 'unref']) {
    if (typeof s[name] !== 'function') s[name] = () => s;
  }
  if (typeof s.setTimeout !== 'function') s.setTimeout = () => s;
  return stream;
}

/** The stream numbers of a Docker client made by createDockerClient over SSH (none for a local socket). */
export function dockerStats(docker: Dockerode): Record<string, number> {
  const agent = (docker.modem as unknown as { agent?: unknown }).agent;
  return agent instanceof DialStdioAgent ? agent.stats() : {};
}

function unixSocketOf(dockerHost: string | undefined): string | undefined {
  return dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) || undefined : undefined;
}
