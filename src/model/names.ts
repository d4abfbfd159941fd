/** Names that reach a host's command line. Checked here, once, before any plan is built. */
import { z } from '@hono/zod-openapi';

/** Host names: 1–63 of [A-Za-z0-9_.-] starting with a letter or digit. */
export const HostName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, '1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit')
  .openapi({ example: 'docker1' });

const RESERVED_IFNAMES = new Set(['all', 'default', '.', '..']);

/** Linux interface names (bridges, ports, container interfaces): ≤ 15 bytes, no leading - or . */
export const IfName = z
  .string()
  .min(1, 'must not be empty')
  .max(15, 'at most 15 bytes (the kernel limit for interface names)')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'only [A-Za-z0-9_.-], not starting with - or .')
  .refine((s) => !RESERVED_IFNAMES.has(s), 'reserved name (all, default, ., ..)')
  .openapi({ example: 'ovs_bridge' });

/** Named network namespaces (ip netns). */
export const NetnsName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, '1-64 characters of [A-Za-z0-9_.-], not starting with - or .')
  .refine((s) => s !== '.' && s !== '..', 'reserved name')
  .openapi({ example: 'blue' });

/** Docker container names or ids. */
export const ContainerRef = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a container name or id: [A-Za-z0-9][A-Za-z0-9_.-]*')
  .openapi({ example: 'web1' });

export const Labels = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/, 'label keys: 1-63 of [A-Za-z0-9_./-]'),
    z.string().max(255),
  )
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels')
  .openapi({ example: { env: 'ci' } });

export const ID_PREFIXES = { host: 'host_', bridge: 'br_', attachment: 'att_', tunnel: 'tun_', job: 'job_' } as const;
export type ResourceType = Exclude<keyof typeof ID_PREFIXES, 'job'>;

/**
 * Ids: prefix + 20 lowercase base32 chars: 8 of time (ms) then 12 random. Lists page by id, so ids must
 * sort in creation order: within one process the time part never repeats or goes back (two ids in one
 * millisecond take the next one).
 */
import { randomBytes } from 'node:crypto';
// In ASCII order, so that ids compare as strings the way their times compare as numbers.
const B32 = '234567abcdefghijklmnopqrstuvwxyz';
let lastMs = 0;
export function newId(kind: keyof typeof ID_PREFIXES): string {
  const t = (lastMs = Math.max(Date.now(), lastMs + 1));
  let s = '';
  // 8 chars of time (40 bits, ms) then 12 random chars: sortable by creation.
  for (let i = 7; i >= 0; i--) s += B32[Math.floor(t / 2 ** (5 * i)) % 32];
  const r = randomBytes(12);
  for (const b of r) s += B32[b % 32];
  return ID_PREFIXES[kind] + s;
}
