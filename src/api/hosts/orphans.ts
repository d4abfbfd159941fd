import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../scopes.js';
import { hostTarget } from '../../jobs/host-target.js';
import { hostKind } from '../../kinds/host.js';
import { hostReader } from '../../kinds/kind.js';
import { findOrphans, removeOrphans } from '../../kinds/orphans.js';
import { requireHostAvailable } from '../../kinds/refs.js';
import { JobSchema } from '../../model/jobs.js';
import type { MarkedObject } from '../../kinds/orphans.js';
import { acceptedResponse, IdOrNameParam, PreferHeader, router } from '../common.js';
import { mutate } from '../mutation.js';
import { errorResponses, mutationErrorResponses, notFoundResponse, observeErrorResponses, statusResponses } from '../problems.js';
import { requireResource } from '../resources.js';
import { Timestamp } from '../../model/formats.js';

const OrphanSchema = z
  .object({
    kind: z.enum(['ovs-bridge', 'ovs-port', 'link']),
    name: z.string(),
    owner: z.string().openapi({ description: 'the netplumb id it is marked with, which no record has' }),
  })
  .openapi('Orphan');
const OrphansSchema = z.object({ observedAt: Timestamp, items: z.array(OrphanSchema) }).openapi('Orphans');
const OrphansRemovedSchema = z.object({ removed: z.array(OrphanSchema), job: JobSchema }).openapi('OrphansRemoved');

const about =
  'An orphan is an object on the host marked with a netplumb id (OVS `external_ids:netplumb-id`, Linux `alias netplumb:<id>`) that no record of this service has: ' +
  'left by an outcome that was lost, a crash, or a store that was reset. Objects without a mark are never listed nor removed. ' +
  "A host managed by two netplumb services with separate stores sees the other one's objects as orphans.";

export const listRoute = createRoute({
  method: 'get',
  path: '/hosts/{idOrName}/orphans',
  operationId: 'listHostOrphans',
  security: requires('read'),
  tags: ['hosts'],
  summary: 'Objects on a host marked by netplumb whose record does not exist',
  description: about,
  request: { params: IdOrNameParam },
  responses: statusResponses({
    200: { description: 'The orphans found now', content: { 'application/json': { schema: OrphansSchema } } },
    ...notFoundResponse,
    ...errorResponses,
    ...observeErrorResponses,
  }),
});

export const deleteRoute = createRoute({
  method: 'delete',
  path: '/hosts/{idOrName}/orphans',
  operationId: 'deleteHostOrphans',
  security: requires('hosts'),
  tags: ['hosts'],
  summary: 'Remove the orphans on a host',
  description: `${about} The job lists them again under the host's lock and removes those still orphaned (ports, then devices, then bridges).`,
  request: { params: IdOrNameParam, headers: PreferHeader },
  responses: statusResponses({
    200: { description: 'What was removed', content: { 'application/json': { schema: OrphansRemovedSchema } } },
    ...acceptedResponse,
    ...mutationErrorResponses,
  }),
});

export const app = router()
  .openapi(listRoute, async (c) => {
    const deps = c.get('deps');
    const host = await requireResource(deps, hostKind, c.req.valid('param').idOrName);
    const found = await findOrphans(
      hostReader(deps.hosts, (id) => hostTarget(deps.store, id)),
      deps.store,
      host.id,
    );
    return c.json(found, 200);
  })
  .openapi(deleteRoute, (c) => {
    const deps = c.get('deps');
    return mutate(c, deleteRoute, async () => {
      const host = await requireResource(deps, hostKind, c.req.valid('param').idOrName);
      requireHostAvailable(host);
      let removed: MarkedObject[] = [];
      return {
        job: { kind: 'host.orphans.delete', resource: { type: 'host', id: host.id }, hosts: [host.id] },
        work: async (ctx) => {
          removed = await removeOrphans(ctx, host.id);
        },
        successStatus: 200,
        render: () => Promise.resolve({ removed }),
        etag: false,
      };
    });
  });
