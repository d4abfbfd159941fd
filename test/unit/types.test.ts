/**
 * Type tests: checked by `tsc` (npm test runs it), so a cast that hides a wrong response shape fails the build.
 * At run time expectTypeOf does nothing; the assertions are in the types.
 */
import { hc, type InferResponseType } from 'hono/client';
import { describe, expectTypeOf, it } from 'vitest';
import type { app as bridgeCreate } from '../../src/api/bridges/create.js';
import type { app as bridgeGet } from '../../src/api/bridges/get.js';
import type { app as tunnelDelete } from '../../src/api/tunnels/delete.js';
import type { app as hostList } from '../../src/api/hosts/list.js';
import type { BridgeView } from '../../src/model/bridges.js';
import type { HostView } from '../../src/model/hosts.js';
import type { JobView } from '../../src/model/jobs.js';
import { createClient } from '../../sdk/src/index.js';
import type { components, paths } from '../../sdk/src/schema.js';

type Json<T> = ReturnType<typeof JSON.parse> extends never ? never : T;

describe('route response types', () => {
  it('a mutation answers the resource with its job (201), the job alone (202), or a problem', () => {
    const _client = hc<typeof bridgeCreate>('http://x');
    type Created = InferResponseType<typeof _client.bridges.$post, 201>;
    expectTypeOf<Created['name']>().toEqualTypeOf<string>();
    expectTypeOf<Created['job']['status']>().toEqualTypeOf<JobView['status']>();
    expectTypeOf<Created>().toHaveProperty('overlayMtu');
    type Accepted = InferResponseType<typeof _client.bridges.$post, 202>;
    expectTypeOf<Accepted>().toEqualTypeOf<{ job: Json<Accepted['job']> }>();
    type Conflict = InferResponseType<typeof _client.bridges.$post, 409>;
    expectTypeOf<Conflict['type']>().toEqualTypeOf<string>();
    expectTypeOf<Conflict['status']>().toEqualTypeOf<number>();
  });

  it('get answers the view (with observed when asked), list a page, delete nothing (204)', () => {
    const _get = hc<typeof bridgeGet>('http://x');
    type Got = InferResponseType<(typeof _get.bridges)[':id']['$get'], 200>;
    expectTypeOf<Got['addresses']>().toEqualTypeOf<BridgeView['addresses']>();
    expectTypeOf<NonNullable<Got['observed']>['drift'][number]['field']>().toEqualTypeOf<string>();
    const _list = hc<typeof hostList>('http://x');
    type Page = InferResponseType<typeof _list.hosts.$get, 200>;
    expectTypeOf<Page['items'][number]['name']>().toEqualTypeOf<HostView['name']>();
    expectTypeOf<Page['nextCursor']>().toEqualTypeOf<string | null>();
    const _del = hc<typeof tunnelDelete>('http://x');
    type Deleted = InferResponseType<(typeof _del.tunnels)[':id']['$delete'], 204>;
    expectTypeOf<keyof Deleted>().toEqualTypeOf<never>(); // no body
  });
});

describe('SDK types', () => {
  it('create helpers take the spec request body and answer the spec resource', () => {
    const np = createClient({ baseUrl: 'http://x' });
    expectTypeOf(np.bridges.create).parameter(0).toHaveProperty('host');
    // A 202 is followed to the job's end and the answer the job ended with: `job` is always there (issue 27).
    expectTypeOf<Awaited<ReturnType<typeof np.bridges.create>>>().toEqualTypeOf<components['schemas']['BridgeWithJob']>();
    expectTypeOf<Awaited<ReturnType<typeof np.bridges.create>>['job']>().toEqualTypeOf<components['schemas']['Job']>();
    expectTypeOf<Awaited<ReturnType<typeof np.topologies.apply>>['plan']>().toEqualTypeOf<components['schemas']['TopologyPlan']>();
    expectTypeOf<Awaited<ReturnType<typeof np.graph.get>>>().toEqualTypeOf<string>();
    expectTypeOf<Awaited<ReturnType<typeof np.topologies.graph>>>().toEqualTypeOf<string>();
    expectTypeOf<Awaited<ReturnType<typeof np.tunnels.create>>['overlayMtu']>().toEqualTypeOf<number>();
    expectTypeOf<components['schemas']['Bridge']['state']>().toEqualTypeOf<
      'pending' | 'ready' | 'failed' | 'deleting' | 'unknown' | 'target-stopped'
    >();
  });
});

describe('SDK input types: what the service defaults may be left out (issue 13)', () => {
  type Body<P extends keyof paths> = paths[P] extends { post: { requestBody?: { content: { 'application/json': infer B } } } } ? B : never;

  it('request bodies make defaulted fields optional, in the helpers and in raw api.POST', () => {
    type Np = ReturnType<typeof createClient>;
    const ssh = { kind: 'ssh', address: '192.0.2.1', hostKeySha256: 'SHA256:x', privateKeyPath: '/k' } as const;
    expectTypeOf({ name: 'docker1', executor: ssh }).toExtend<Parameters<Np['hosts']['create']>[0]>();
    expectTypeOf({ name: 'docker1', executor: ssh }).toExtend<Body<'/hosts'>>();
    expectTypeOf({ host: 'docker1', name: 'br0' }).toExtend<Parameters<Np['bridges']['create']>[0]>();
    expectTypeOf({ host: 'docker1', name: 'br0' }).toExtend<Body<'/bridges'>>();
    expectTypeOf({ bridge: 'docker1/br0', target: { container: 'web1' } }).toExtend<Body<'/attachments'>>();
    expectTypeOf({ type: 'gre' as const, endpoints: [{ bridge: 'a/br0' }, { bridge: 'b/br0' }] }).toExtend<Body<'/tunnels'>>();
    expectTypeOf({ networks: { web: { members: [{ host: 'docker1' }] } } }).toExtend<Parameters<Np['topologies']['apply']>[1]>();
    // What has no default is still required.
    expectTypeOf({ host: 'docker1' }).not.toExtend<Body<'/bridges'>>();
    expectTypeOf({ name: 'docker1', executor: { kind: 'ssh', address: '192.0.2.1' } as const }).not.toExtend<Body<'/hosts'>>();
  });

  it('responses keep every field the service always sends required', () => {
    type SshView = Extract<components['schemas']['Host']['executor'], { kind: 'ssh' }>;
    expectTypeOf<SshView['port']>().toEqualTypeOf<number>();
    expectTypeOf<SshView['user']>().toEqualTypeOf<string>();
    expectTypeOf<components['schemas']['Bridge']['stp']>().toEqualTypeOf<boolean>();
    expectTypeOf<components['schemas']['Bridge']['addresses']>().toEqualTypeOf<string[]>();
    expectTypeOf<components['schemas']['Attachment']['routes']>().not.toBeUndefined();
  });
});
