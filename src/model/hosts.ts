/** Hosts: where netplumb acts, and how it reaches them. */
import { z } from '@hono/zod-openapi';
import { HostName, idSchema, Labels } from './names.js';
import { TrafficControlFactsSchema } from './impairments.js';
import { canonicalIp, IpAddress } from './net.js';
import { ResourceStateSchema, type Resource } from './resource.js';
import { IpAddressOut, Timestamp } from './formats.js';

/** What the reconcile loop does on a host (see src/reconcile/loop.ts). */
export const ReconcileMode = z.enum(['auto', 'report', 'off']);
export type ReconcileMode = z.infer<typeof ReconcileMode>;

/** What a private key's text begins with (PEM or OpenSSH); the service parses it, and refuses what it cannot use (422). */
const PRIVATE_KEY_PATTERN = '^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----';

const DnsName = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const HostAddress = z
  .string()
  .max(253)
  .refine((s) => canonicalIp(s) !== null || (DnsName.test(s) && !/^[0-9.]+$/.test(s)), 'an IP address or a DNS name')
  .openapi({ pattern: '^[A-Za-z0-9:.-]+$', description: 'an IP address or a DNS name', example: '10.10.10.101' });

export const HostKeySha256 = z
  .string()
  .max(51)
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'the SHA256:… fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 base64 characters)')
  .openapi({ example: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s' });

export const LocalExecutorSchema = z
  .object({ kind: z.literal('local') })
  .strict()
  .openapi('LocalExecutor', { description: 'Commands run on the machine the service runs on' });

export const SshExecutorSchema = z
  .object({
    kind: z.literal('ssh'),
    address: HostAddress,
    port: z.number().int().min(1).max(65535).default(22),
    user: z
      .string()
      .max(32)
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a POSIX user name ([a-z_][a-z0-9_-]{0,31})')
      .default('root'),
    privateKeyPath: z
      .string()
      .min(1)
      .max(4096)
      .refine((p) => p.startsWith('/'), 'an absolute path')
      .optional()
      .openapi({ pattern: '^/', description: 'Read by the service when it connects. Write-only.' }),
    privateKey: z
      .string()
      .min(1)
      .max(65536)
      .optional()
      .openapi({ pattern: PRIVATE_KEY_PATTERN, description: 'PEM/OpenSSH private key. Write-only: never returned or logged.' }),
    hostKeySha256: HostKeySha256,
  })
  .strict()
  .refine((e) => !!e.privateKeyPath !== !!e.privateKey, {
    message: 'give exactly one of privateKeyPath or privateKey',
    path: ['privateKey'],
  })
  .openapi('SshExecutor', {
    description: 'Commands run over SSH, the host key pinned. Exactly one of `privateKeyPath` or `privateKey`.',
    // The refine above, as JSON Schema says it: exactly one of the two keys (typed, so generated clients require one).
    oneOf: [
      {
        title: 'key file',
        type: 'object',
        required: ['privateKeyPath'],
        properties: { privateKeyPath: { type: 'string', maxLength: 4096, pattern: '^/' } },
      },
      {
        title: 'inline key',
        type: 'object',
        required: ['privateKey'],
        properties: { privateKey: { type: 'string', maxLength: 65536, pattern: PRIVATE_KEY_PATTERN } },
      },
    ],
  });

export const HostCreateSchema = z
  .object({
    name: HostName,
    executor: z
      .discriminatedUnion('kind', [LocalExecutorSchema, SshExecutorSchema])
      .openapi({ description: 'How the service reaches the host' }),
    tunnelIp: IpAddress.optional().openapi({ description: 'Underlay address the other ends of tunnels send to' }),
    docker: z
      .object({
        socketPath: z
          .string()
          .max(4096)
          .regex(/^\/[A-Za-z0-9_./-]+$/, 'an absolute socket path'),
      })
      .strict()
      .optional()
      .openapi({
        description:
          'Reach Docker through this socket on the host instead of the default (local: /var/run/docker.sock; SSH: `docker system dial-stdio` on the host)',
      }),
    labels: Labels.optional(),
    reconcile: ReconcileMode.optional().openapi({
      description:
        'What the reconcile loop does on this host: `auto` (default) observes it and repairs drift as logged jobs; `report` only logs the drift it finds; `off` leaves it alone',
    }),
  })
  .strict()
  .openapi('HostCreate', {
    example: {
      name: 'docker1',
      executor: {
        kind: 'ssh',
        address: '10.10.10.101',
        port: 22,
        user: 'root',
        privateKeyPath: '/root/.ssh/id_ed25519',
        hostKeySha256: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
      },
      tunnelIp: '10.10.10.101',
    },
  });
export type HostCreate = z.infer<typeof HostCreateSchema>;

export const HostFactsSchema = z
  .object({
    probedAt: Timestamp,
    reachable: z.boolean(),
    problem: z.object({ type: z.string(), title: z.string(), status: z.number(), detail: z.string() }).catchall(z.unknown()).optional(),
    kernel: z.string().optional(),
    iproute2: z.string().optional(),
    ovs: z
      .object({ version: z.string(), datapathTypes: z.array(z.string()) })
      .nullable()
      .optional(),
    docker: z.object({ version: z.string() }).nullable().optional(),
    ethtool: z.boolean().optional(),
    kernelModules: z.object({ gre: z.boolean(), vxlan: z.boolean(), openvswitch: z.boolean() }).optional(),
    trafficControl: TrafficControlFactsSchema.nullable().optional(),
    linkTypes: z
      .object({
        macvlan: z.boolean(),
        ipvlan: z.boolean(),
        vlan: z.boolean().openapi({ description: '802.1Q VLAN sub-interfaces' }),
        dummy: z.boolean(),
        gretap: z.boolean(),
        ip6gretap: z.boolean(),
        vxlan: z.boolean(),
      })
      .nullable()
      .optional()
      .openapi({ description: 'device types the kernel can make (tried in a throwaway namespace); null: could not tell' }),
    dhcpClients: z
      .array(z.enum(['udhcpc', 'dhclient', 'dhcpcd']))
      .nullable()
      .optional()
      .openapi({ description: 'DHCP clients the host can run in a target (addresses "dhcp"), in order of preference' }),
    bootId: z.string().optional().openapi({ description: "the kernel's boot id: another one means the host booted again" }),
  })
  .openapi('HostFacts');
export type HostFacts = z.infer<typeof HostFactsSchema>;

/** The SSH executor as the API answers it: which kind of key, never the key or its path. */
export const SshExecutorViewSchema = z
  .object({
    kind: z.literal('ssh'),
    address: z.string().max(253).openapi({ pattern: '^[A-Za-z0-9:.-]+$', description: 'an IP address or a DNS name' }),
    port: z.number().int().min(1).max(65535),
    user: z.string().max(32).openapi({ pattern: '^[a-z_][a-z0-9_-]*$' }),
    hostKeySha256: z.string().max(51).openapi({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$' }),
    auth: z
      .enum(['privateKey', 'privateKeyPath'])
      .openapi({ description: 'which kind of key was given (the key itself is never returned)' }),
  })
  .openapi('SshExecutorView');

export const HostSchema = z
  .object({
    id: idSchema('host'),
    name: z.string(),
    executor: z.discriminatedUnion('kind', [LocalExecutorSchema, SshExecutorViewSchema]),
    tunnelIp: IpAddressOut.nullable(),
    docker: z.object({ socketPath: z.string() }).nullable(),
    labels: z.record(z.string(), z.string()),
    facts: HostFactsSchema.nullable(),
    reconcile: ReconcileMode,
    state: ResourceStateSchema,
    jobId: idSchema('job').nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Host');
export type HostView = z.infer<typeof HostSchema>;

/** What the store keeps for a host (data column, parsed on every read); secrets live apart. */
export const HostDataSchema = z.object({
  name: z.string(),
  executor: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('local') }),
    z.object({
      kind: z.literal('ssh'),
      address: z.string(),
      port: z.number(),
      user: z.string(),
      hostKeySha256: z.string(),
      privateKeyPath: z.string().optional(),
    }),
  ]),
  tunnelIp: z.string().nullable(),
  docker: z.object({ socketPath: z.string() }).nullable(),
  labels: z.record(z.string(), z.string()),
  facts: HostFactsSchema.nullable(),
  reconcile: ReconcileMode.default('auto'),
});
export type HostData = z.infer<typeof HostDataSchema>;

export function renderHost(r: Resource<HostData>): HostView {
  const d = r.data;
  const executor: HostView['executor'] =
    d.executor.kind === 'local'
      ? { kind: 'local' }
      : {
          kind: 'ssh',
          address: d.executor.address,
          port: d.executor.port,
          user: d.executor.user,
          hostKeySha256: d.executor.hostKeySha256,
          auth: d.executor.privateKeyPath ? 'privateKeyPath' : 'privateKey',
        };
  return {
    id: r.id,
    name: d.name,
    executor,
    tunnelIp: d.tunnelIp,
    docker: d.docker,
    labels: d.labels,
    facts: d.facts,
    reconcile: d.reconcile,
    state: r.state,
    jobId: r.jobId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
