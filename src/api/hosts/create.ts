import { createRoute } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { HostCreateSchema, type HostData } from '../../model/hosts.js';
import { newId } from '../../model/names.js';
import { ProblemError } from '../../model/problems.js';
import { probeAndRecord } from '../../jobs/hosts.js';
import { insertPending, readResource } from '../../jobs/records.js';
import { hostKind } from '../../kinds/host.js';
import { acceptedResponse, createdHeaders, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { bodyErrorResponses, mutationErrorResponses, statusResponses } from '../problems.js';
import { HostWithJobSchema } from './schema.js';
import { checkHostKey } from '../../kinds/host-key.js';

export const route = createRoute({
  method: 'post',
  path: '/hosts',
  operationId: 'createHost',
  security: requires('hosts'),
  tags: ['hosts'],
  summary: 'Register a host and probe it',
  description:
    'Stores how to reach the host (local, or SSH with a pinned host key) and runs a probe job that collects kernel, iproute2, Open vSwitch and Docker facts.',
  request: { headers: PreferHeader, body: { required: true, content: { 'application/json': { schema: HostCreateSchema } } } },
  responses: statusResponses({
    201: {
      description: 'Host registered and probed',
      headers: createdHeaders('hosts', 'host'),
      content: { 'application/json': { schema: HostWithJobSchema } },
    },
    ...acceptedResponse,
    ...mutationErrorResponses,
    ...bodyErrorResponses,
  }),
});

export const app = router().openapi(route, async (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  // A key that cannot be used (or an inline key that cannot be sealed) is refused before any job.
  await checkHostKey(deps.config, body.executor, (m) => deps.obs.logger.warn(m));
  return mutate(c, route, async () => {
    if (await deps.store.getResourceByKey('host', body.name)) {
      throw new ProblemError('conflict', `a host named ${JSON.stringify(body.name)} already exists`, {
        errors: [{ pointer: '/name', detail: 'already taken' }],
      });
    }
    const ex = body.executor;
    const id = newId('host');
    const executor: HostData['executor'] =
      ex.kind === 'local'
        ? { kind: 'local' }
        : {
            kind: 'ssh',
            address: ex.address,
            port: ex.port,
            user: ex.user,
            hostKeySha256: ex.hostKeySha256,
            ...(ex.privateKeyPath ? { privateKeyPath: ex.privateKeyPath } : {}),
          };
    const data: HostData = {
      name: body.name,
      executor,
      tunnelIp: body.tunnelIp ?? null,
      docker: body.docker ?? null,
      labels: body.labels ?? {},
      facts: null,
      reconcile: body.reconcile ?? 'auto',
    };
    const secret = ex.kind === 'ssh' && ex.privateKey ? { privateKey: ex.privateKey } : null;
    if (secret) deps.runner.addSecret(secret.privateKey);
    return {
      job: { kind: 'host.create', resource: { type: 'host', id }, hosts: [id] },
      prepare: async (job) => await insertPending(deps.store, { id, type: 'host', key: body.name, jobId: job.id, data, secret }),
      work: (ctx) => probeAndRecord(ctx, id),
      successStatus: 201,
      render: async () => {
        const host = await readResource(deps.store, 'host', id);
        return host ? hostKind.render(host) : {};
      },
    };
  });
});
