import { resolve } from 'node:path';
import { createRoute } from '@hono/zod-openapi';
import { HostCreateSchema, type HostData } from '../../model/hosts.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { probeAndRecord } from '../../jobs/hosts.js';
import { insertPending, readResource } from '../../jobs/records.js';
import { hostKind } from '../../kinds/host.js';
import { acceptedResponse, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { mutationErrorResponses, statusResponses } from '../problems.js';
import { HostWithJobSchema } from './schema.js';

export const route = createRoute({
  method: 'post',
  path: '/hosts',
  tags: ['hosts'],
  summary: 'Register a host and probe it',
  description: 'Stores how to reach the host (local, or SSH with a pinned host key) and runs a probe job that collects kernel, iproute2, Open vSwitch and Docker facts.',
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: HostCreateSchema } } } },
  responses: statusResponses({
    201: { description: 'Host registered and probed', content: { 'application/json': { schema: HostWithJobSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  }),
});

/** A key path is a file the service reads: no `..` tricks, and inside NETPLUMB_KEY_DIR when that is set. */
function checkKeyPath(p: string, keyDir: string | undefined): void {
  const pointer = '/executor/privateKeyPath';
  if (resolve(p) !== p.replace(/\/+$/, '')) throw ProblemError.validation([{ pointer, detail: 'a normalized absolute path (no ., .. or //)' }]);
  if (keyDir && !p.startsWith(resolve(keyDir) + '/')) throw ProblemError.validation([{ pointer, detail: `must lie inside ${resolve(keyDir)} (NETPLUMB_KEY_DIR)` }]);
}

export const app = router().openapi(route, (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  return mutate(c, route, () => {
    if (deps.store.getResourceByKey('host', body.name)) {
      throw new ProblemError('conflict', `a host named ${JSON.stringify(body.name)} already exists`, { errors: [{ pointer: '/name', detail: 'already taken' }] });
    }
    const ex = body.executor;
    if (ex.kind === 'ssh' && ex.privateKeyPath) checkKeyPath(ex.privateKeyPath, deps.config.keyDir);
    const id = newId('host');
    const executor: HostData['executor'] = ex.kind === 'local'
      ? { kind: 'local' }
      : { kind: 'ssh', address: ex.address, port: ex.port, user: ex.user, hostKeySha256: ex.hostKeySha256, ...(ex.privateKeyPath ? { privateKeyPath: ex.privateKeyPath } : {}) };
    const data: HostData = { name: body.name, executor, tunnelIp: body.tunnelIp ?? null, docker: body.docker ?? null, labels: body.labels ?? {}, facts: null };
    const secret = ex.kind === 'ssh' && ex.privateKey ? { privateKey: ex.privateKey } : null;
    if (secret) deps.runner.addSecret(secret.privateKey);
    return {
      job: { kind: 'host.create', resource: { type: 'host', id }, hosts: [id] },
      prepare: (job) => insertPending(deps.store, { id, type: 'host', key: body.name, jobId: job.id, data, secret }),
      work: (ctx) => probeAndRecord(ctx, id),
      successStatus: 201,
      render: () => {
        const host = readResource(deps.store, 'host', id);
        return host ? hostKind.render(host) : {};
      },
    };
  });
});
