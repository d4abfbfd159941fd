/**
 * Docker's plugin protocol (libnetwork remote driver and IPAM driver, moby libnetwork/docs/remote.md and
 * libnetwork/docs/ipam.md) as its own small HTTP app, served per host on /run/docker/plugins/netplumb.sock. Not part of the
 * REST API: Docker POSTs `/<Interface>.<Method>` with no Content-Type and often no body, and reads `{"Err": …}` from
 * any non-200 answer (and prints it: `docker run` shows the text). Every handler answers within its budget: dockerd's
 * plugin client has no timeout, so a handler that never answered would hang `docker run`.
 */
import { Hono } from 'hono';
import type { z } from '@hono/zod-openapi';
import {
  CreateEndpointRequest,
  CreateNetworkRequest,
  EndpointRequest,
  JoinRequest,
  NetworkIdRequest,
  PoolIdRequest,
  ReleaseAddressRequest,
  RequestAddressRequest,
  RequestPoolRequest,
} from '../../model/docker-plugin.js';
import { PluginError, type DockerPluginBackend } from '../../kinds/docker-plugin.js';

/** What Docker's plugin client expects as the media type of every answer. */
const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** The longest any handler takes before it answers an error (the host steps inside have a budget of their own). */
export const HANDLER_BUDGET_MS = 25_000;
const MAX_BODY = 256 * 1024;

type Handler = (body: unknown) => Promise<unknown>;

function parsed<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new PluginError(`bad request: ${first.path.join('.') || '(body)'}: ${first.message}`, 400);
  }
  return r.data;
}

const ok = () => Promise.resolve({});

export function pluginHandlers(b: DockerPluginBackend): Record<string, Handler> {
  return {
    'Plugin.Activate': () => Promise.resolve({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    'NetworkDriver.GetCapabilities': () => Promise.resolve({ Scope: 'local', ConnectivityScope: 'local' }),
    'NetworkDriver.CreateNetwork': async (body) => (await b.createNetwork(parsed(CreateNetworkRequest, body)), {}),
    'NetworkDriver.DeleteNetwork': async (body) => (await b.deleteNetwork(parsed(NetworkIdRequest, body)), {}),
    'NetworkDriver.CreateEndpoint': async (body) => await b.createEndpoint(parsed(CreateEndpointRequest, body)),
    'NetworkDriver.EndpointOperInfo': async (body) => await b.endpointOperInfo(parsed(EndpointRequest, body)),
    'NetworkDriver.DeleteEndpoint': async (body) => (await b.deleteEndpoint(parsed(EndpointRequest, body)), {}),
    'NetworkDriver.Join': async (body) => await b.join(parsed(JoinRequest, body)),
    'NetworkDriver.Leave': async (body) => (await b.leave(parsed(EndpointRequest, body)), {}),
    // Node discovery is for global-scope drivers; netplumb knows its hosts already.
    'NetworkDriver.DiscoverNew': ok,
    'NetworkDriver.DiscoverDelete': ok,
    // No port publishing or NAT on a netplumb network: the containers are on an L2 segment of their own.
    'NetworkDriver.ProgramExternalConnectivity': ok,
    'NetworkDriver.RevokeExternalConnectivity': ok,
    'IpamDriver.GetCapabilities': () => Promise.resolve({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    'IpamDriver.GetDefaultAddressSpaces': () => Promise.resolve(b.defaultAddressSpaces()),
    'IpamDriver.RequestPool': async (body) => await b.requestPool(parsed(RequestPoolRequest, body)),
    'IpamDriver.ReleasePool': async (body) => (await b.releasePool(parsed(PoolIdRequest, body)), {}),
    'IpamDriver.RequestAddress': async (body) => await b.requestAddress(parsed(RequestAddressRequest, body)),
    'IpamDriver.ReleaseAddress': async (body) => (await b.releaseAddress(parsed(ReleaseAddressRequest, body)), {}),
  };
}

function withinBudget<T>(work: Promise<T>, ms: number, method: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PluginError(`${method} did not finish within ${ms / 1000} s`, 504)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export interface PluginProtocolOptions {
  budgetMs?: number;
  /** Told of every call (method, ms, error text if it failed): the service log. */
  onCall?: (method: string, ms: number, error: string | null) => void;
}

/** The protocol for one host's dockerd: `backend` already knows which host is on the other end. */
export function createPluginProtocol(backend: DockerPluginBackend, opts: PluginProtocolOptions = {}): Hono {
  const handlers = pluginHandlers(backend);
  const budget = opts.budgetMs ?? HANDLER_BUDGET_MS;
  const app = new Hono();
  const answer = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': PLUGIN_MEDIA_TYPE } });
  app.post('/:method', async (c) => {
    const method = c.req.param('method');
    const handler = Object.hasOwn(handlers, method) ? handlers[method]! : null;
    if (!handler) return answer(404, { Err: `netplumb: unknown method ${method.slice(0, 80)}` });
    const started = performance.now();
    try {
      // Docker sends no Content-Type, and an empty body for methods without arguments: read the text, empty is {}.
      const text = await c.req.text();
      if (text.length > MAX_BODY) throw new PluginError('request body too large', 413);
      let body: unknown = {};
      if (text.trim()) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new PluginError('the request body is not JSON', 400);
        }
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new PluginError('the request body is not a JSON object', 400);
      const out = await withinBudget(handler(body), budget, method);
      opts.onCall?.(method, performance.now() - started, null);
      return answer(200, out);
    } catch (e) {
      const err = e instanceof PluginError ? e : new PluginError(`${method} failed: ${e instanceof Error ? e.message : String(e)}`, 500);
      opts.onCall?.(method, performance.now() - started, err.message);
      return answer(err.status, { Err: err.message });
    }
  });
  app.all('*', () => answer(404, { Err: 'netplumb: not a plugin method (POST /<Interface>.<Method>)' }));
  return app;
}
