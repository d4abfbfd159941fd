/** Addresses: parsed with ipaddr.js and written back canonical, so the store and the host agree. */
import ipaddr from 'ipaddr.js';
import { z } from '@hono/zod-openapi';
import { CIDR_PATTERN, IP_PATTERN, MAC_PATTERN } from './formats.js';

export function canonicalCidr(s: string): string | null {
  if (typeof s !== 'string' || s.length > 64 || !/^[0-9A-Fa-f.:]+\/\d{1,3}$/.test(s)) return null;
  try {
    const [addr, prefix] = ipaddr.parseCIDR(s);
    if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(s.split('/')[0]!)) return null;
    return `${addr.toString()}/${prefix}`;
  } catch {
    return null;
  }
}

export function canonicalIp(s: string): string | null {
  if (typeof s !== 'string' || s.length > 45 || !/^[0-9A-Fa-f.:]+$/.test(s)) return null;
  if (!ipaddr.isValid(s)) return null;
  // ipaddr accepts legacy IPv4 forms like "10.1" or octal; insist on four decimal parts.
  if (!s.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(s)) return null;
  return ipaddr.parse(s).toString();
}

export function ipFamily(s: string): 4 | 6 {
  return s.includes(':') ? 6 : 4;
}

/** Is `ip` inside any of `cidrs` (same family)? */
export function inAnySubnet(ip: string, cidrs: readonly string[]): boolean {
  const a = ipaddr.parse(ip);
  return cidrs.some((c) => {
    const [net, len] = ipaddr.parseCIDR(c);
    return net.kind() === a.kind() && a.match(net, len);
  });
}

export const Cidr = z
  .string()
  .transform((s, ctx) => {
    const c = canonicalCidr(s);
    if (c === null) {
      ctx.addIssue({ code: 'custom', message: `not an IPv4/IPv6 address with prefix length (CIDR): ${JSON.stringify(s).slice(0, 80)}` });
      return z.NEVER;
    }
    return c;
  })
  .openapi({
    type: 'string',
    maxLength: 64,
    pattern: CIDR_PATTERN,
    example: '10.11.12.1/24',
    description: 'IPv4 or IPv6 address with prefix length; stored canonical',
  });

export const IpAddress = z
  .string()
  .transform((s, ctx) => {
    const c = canonicalIp(s);
    if (c === null) {
      ctx.addIssue({ code: 'custom', message: `not an IPv4/IPv6 address: ${JSON.stringify(s).slice(0, 80)}` });
      return z.NEVER;
    }
    return c;
  })
  .openapi({ type: 'string', maxLength: 45, pattern: IP_PATTERN, example: '10.10.10.101' });

export const Mac = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC address like 02:42:ac:11:00:02')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, 'must be a unicast MAC (the first octet even)')
  .transform((m) => m.toLowerCase())
  .openapi({ type: 'string', maxLength: 17, pattern: MAC_PATTERN, example: '02:42:0a:0b:0c:64' });

export const Mtu = z.number().int().min(68).max(65535).openapi({ example: 1500 });
