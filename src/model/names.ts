/** Names that reach a host's command line. Checked here, once, before any plan is built. */
import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { LABEL_VALUE_PATTERN } from './formats.js';

/** Host names: 1–63 of [A-Za-z0-9_.-] starting with a letter or digit. */
export const HostName = z
  .string()
  .max(63)
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
  .max(64)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, '1-64 characters of [A-Za-z0-9_.-], not starting with - or .')
  .refine((s) => s !== '.' && s !== '..', 'reserved name')
  .openapi({ example: 'blue' });

/** Docker container names or ids. */
export const ContainerRef = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a container name or id: [A-Za-z0-9][A-Za-z0-9_.-]*')
  .openapi({ example: 'web1' });

export const Labels = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/, 'label keys: 1-63 of [A-Za-z0-9_./-]'),
    z.string().max(255).regex(new RegExp(LABEL_VALUE_PATTERN), 'label values: no control characters'),
  )
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels')
  .openapi({ example: { env: 'ci' } });

export const ID_PREFIXES = {
  host: 'host_',
  bridge: 'br_',
  attachment: 'att_',
  tunnel: 'tun_',
  topology: 'top_',
  job: 'job_',
  token: 'tok_',
} as const;
/** Kinds of resource (on hosts): not jobs, not API tokens. */
export type ResourceType = Exclude<keyof typeof ID_PREFIXES, 'job' | 'token'>;

/** Base32 in ASCII order, so that ids compare as strings the way their times compare as numbers. */
const B32 = '234567abcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 10; // 50 bits of milliseconds: sorts correctly far beyond 2039 (when 40 bits run out)
const RANDOM_CHARS = 16; // 80 bits
let lastMs = 0;

/**
 * Ids: prefix + 26 lowercase base32 chars, ULID-style: 10 of time (ms) then 16 random. Lists page by id, so
 * ids must sort in creation order: within one process the time part never repeats or goes back (two ids in
 * one millisecond take the next one).
 */
export function newId(kind: keyof typeof ID_PREFIXES): string {
  const t = (lastMs = Math.max(Date.now(), lastMs + 1));
  let s = '';
  for (let i = TIME_CHARS - 1; i >= 0; i--) s += B32[Math.floor(t / 2 ** (5 * i)) % 32];
  for (const b of randomBytes(RANDOM_CHARS)) s += B32[b % 32];
  return ID_PREFIXES[kind] + s;
}

/** Matches an id of this kind (26 characters; 20 for ids made before the time part grew). */
export function idPattern(kind: keyof typeof ID_PREFIXES): RegExp {
  return new RegExp(`^${ID_PREFIXES[kind]}[a-z2-7]{20}(?:[a-z2-7]{6})?$`);
}

/** Any resource's id (not a job's, not a token's). */
export const resourceIdPattern = new RegExp(
  `^(?:${Object.entries(ID_PREFIXES)
    .filter(([k]) => k !== 'job' && k !== 'token')
    .map(([, p]) => p.slice(0, -1))
    .join('|')})_[a-z2-7]{20}(?:[a-z2-7]{6})?$`,
);

/** One real id per kind, for the API document's examples (each matches its idPattern; a unit test keeps it so). */
export const EXAMPLE_IDS = {
  host: 'host_23ocopjlantactg3nj52augwym',
  bridge: 'br_23ocopjlao4mohf4zemghvksrc',
  attachment: 'att_23ocopjlapu5fnwmd47j3ufp64',
  tunnel: 'tun_23ocopjlaq5mwsd737qzipmvqc',
  topology: 'top_23ocopjlarfljpf37lxclcawyy',
  job: 'job_23ocopjlaszcctdk2gb6tl6wih',
  token: 'tok_23ocopjlat4xk7qnv2hd5rmb3e',
} as const satisfies Record<keyof typeof ID_PREFIXES, string>;

/** An id of this kind as the API answers it: documented with its pattern and a matching example. */
export function idSchema(kind: keyof typeof ID_PREFIXES, description?: string) {
  return z
    .string()
    .regex(idPattern(kind))
    .openapi({ example: EXAMPLE_IDS[kind], ...(description ? { description } : {}) });
}
