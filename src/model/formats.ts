/**
 * String formats the API document states, shared by every schema: a strict client (a generator, a validating proxy)
 * types and checks them. The contract check (test/helpers/contract.ts) validates every answer against them.
 */
import { z } from '@hono/zod-openapi';

/** RFC 3339 date-time, as the service writes them (`toISOString()`: UTC, milliseconds). */
export const Timestamp = z.string().max(40).openapi({ format: 'date-time', example: '2026-05-04T12:00:00.000Z' });

const V4 = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}';
/** IPv6 in any of its spellings (the service answers canonical ones); the parser decides the rest. */
const V6 = '[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:' + V4 + ')?';

/** An IPv4 or IPv6 address (no prefix length). */
export const IP_PATTERN = `^(?:${V4}|${V6})$`;
/** An IPv4 or IPv6 address with its prefix length (CIDR). */
export const CIDR_PATTERN = `^(?:${V4}/(?:3[0-2]|[12]?\\d)|${V6}/(?:12[0-8]|1[01]\\d|[1-9]?\\d))$`;
/** A MAC address, colon-separated. */
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$';

/** An address as the service answers it (canonical IPv4 or IPv6). */
export const IpAddressOut = z
  .string()
  .max(45)
  .openapi({ pattern: IP_PATTERN, description: 'IPv4 or IPv6 address', example: '10.11.12.100' });

/** A CIDR as the service answers it (canonical). */
export const CidrOut = z
  .string()
  .max(49)
  .openapi({ pattern: CIDR_PATTERN, description: 'IPv4 or IPv6 address with prefix length', example: '10.11.12.100/24' });

export const MacOut = z.string().max(17).openapi({ pattern: MAC_PATTERN, example: '02:42:0a:0b:0c:64' });

/** A resource by id or by name (host names, interface names, container names): what path and query references take. */
export const REF_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
/** A bridge by id or by "host/name". */
export const BRIDGE_REF_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$';
/** Header values the service reads (Prefer, Idempotency-Key): visible ASCII and spaces. */
export const PRINTABLE_PATTERN = '^[\\x20-\\x7e]*$';
/** Label values: any text without control characters. */
export const LABEL_VALUE_PATTERN = '^[^\\x00-\\x1f\\x7f]*$';
