import type Dockerode from 'dockerode';
import { ExecError } from '../exec/errors.js';
import { boundedWait } from '../exec/waits.js';

/** What the plumbing needs to know about a container. */
export interface ContainerInfo {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  /** The pid of its init process on the host (0 when not running). */
  pid: number;
  running: boolean;
}

export class ContainerNotFoundError extends Error {
  constructor(readonly container: string) {
    super(`no such container: ${container}`);
    this.name = 'ContainerNotFoundError';
  }
}

export class ContainerNotRunningError extends Error {
  constructor(
    readonly container: string,
    readonly status: string,
  ) {
    super(`container ${container} is not running (${status})`);
    this.name = 'ContainerNotRunningError';
  }
}

/** Docker's own rule for container names; ids (hex, full or prefix) fit it too. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export interface ResolveContainerOptions {
  /** Throw ContainerNotRunningError for a stopped container (default true). */
  requireRunning?: boolean;
}

/**
 * Name or id → the container's id, name and pid, through the Docker API.
 * Throws ContainerNotFoundError (404) or, by default, ContainerNotRunningError.
 */
export async function resolveContainer(docker: Dockerode, nameOrId: string, opts: ResolveContainerOptions = {}): Promise<ContainerInfo> {
  // The name goes into the request path: anything Docker could not have named a container
  // (`../info`, `a/b`, `x?y`) is "not found" without asking, so it cannot reach another endpoint.
  const bare = nameOrId.startsWith('/') ? nameOrId.slice(1) : nameOrId;
  if (!CONTAINER_NAME.test(bare)) throw new ContainerNotFoundError(nameOrId);
  let info: Dockerode.ContainerInspectInfo;
  try {
    info = await boundedDockerRead(`a Docker lookup of container ${bare}`, (abortSignal) =>
      onceMoreIfReset(() => docker.getContainer(bare).inspect({ abortSignal })),
    );
  } catch (err) {
    if (statusCodeOf(err) === 404) throw new ContainerNotFoundError(nameOrId);
    throw asDockerError(err);
  }
  const result: ContainerInfo = {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    pid: info.State.Pid,
    running: info.State.Running === true,
  };
  if ((opts.requireRunning ?? true) && (!result.running || result.pid <= 0)) {
    throw new ContainerNotRunningError(nameOrId, info.State.Status);
  }
  return result;
}

/** The Docker engine's version, e.g. `20.10.24+dfsg1`. */
export async function dockerVersion(docker: Dockerode): Promise<string> {
  try {
    // dockerode's types omit version()'s options; its code passes abortSignal on like every other call's.
    const version = docker.version.bind(docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<Dockerode.DockerVersion>;
    const v = await boundedDockerRead('the Docker engine version', (abortSignal) => onceMoreIfReset(() => version({ abortSignal })));
    return v.Version;
  } catch (err) {
    throw asDockerError(err);
  }
}

/** The longest one Docker API read may take (queued behind others on the host's streams included). */
export const DOCKER_READ_MS = 30_000;

/**
 * A Docker read, bounded and shown on the job's board: the request is aborted at the bound (its stream closed, so it
 * holds nothing), and the job fails with a timeout naming the lookup instead of waiting forever.
 */
function boundedDockerRead<T>(what: string, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return boundedWait({ kind: 'docker', detail: what }, DOCKER_READ_MS, read);
}

/**
 * A read (GET) whose connection was reset before any answer is asked once more on a new connection, as Go's HTTP
 * transport does for idempotent requests: a kept-alive stream can end under a request (the host's dockerd restarted,
 * the channel closed while idle). A second reset is the answer.
 */
async function onceMoreIfReset<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    const e = err as NodeJS.ErrnoException | null;
    if (statusCodeOf(err) === undefined && (e?.code === 'ECONNRESET' || e?.code === 'EPIPE' || e?.message === 'socket hang up')) {
      return read();
    }
    throw err;
  }
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Transport failures (no daemon, socket missing, SSH gone) become host-unreachable; API errors pass through. */
function asDockerError(err: unknown): unknown {
  if (err instanceof ExecError || statusCodeOf(err) !== undefined) return err;
  const e = err as NodeJS.ErrnoException | null;
  const transport = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES']);
  if (e?.code && transport.has(e.code)) {
    return new ExecError('host-unreachable', `cannot reach the Docker engine: ${e.code}`);
  }
  if (e?.message === 'socket hang up') {
    return new ExecError('host-unreachable', 'cannot reach the Docker engine: connection closed');
  }
  return err;
}
