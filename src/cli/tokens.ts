/** tokens create|list|revoke: scoped API tokens (admin). The secret is printed once, alone on stdout, for scripts. */
import type { Token, TokenCreate } from '../../sdk/src/index.js';
import { CliError, EXIT, optionalString, requireString, type Invocation } from './args.js';
import { render } from './output.js';
import type { Session } from './session.js';
import type { Io } from './topology.js';

const SCOPES = ['read', 'write', 'hosts', 'admin'] as const;
const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

/** `24h`, `7d`, `30m` from now, or an RFC 3339 date-time. */
export function expiryFrom(value: string, now = Date.now()): string {
  const m = /^(\d+)([mhd])$/.exec(value);
  if (m) return new Date(now + Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']).toISOString();
  if (Number.isNaN(Date.parse(value)))
    throw new CliError(`tokens create: --expires takes 30m, 24h, 7d or a date-time (not "${value}")`, EXIT.usage);
  return new Date(value).toISOString();
}

export function tokenFromFlags(inv: Invocation): TokenCreate {
  const name = inv.args[0];
  if (!name) throw new CliError('tokens create: give the token a NAME', EXIT.usage);
  const scopes = list(requireString(inv, 'scope', 'read, write, hosts or admin; several with commas'))!;
  const bad = scopes.find((s) => !(SCOPES as readonly string[]).includes(s));
  if (bad) throw new CliError(`tokens create: unknown scope "${bad}" (read, write, hosts, admin)`, EXIT.usage);
  const labels = list(optionalString(inv, 'host-label'));
  const hostLabels = labels && Object.fromEntries(labels.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
  if (labels?.some((l) => !l.includes('='))) throw new CliError('tokens create: --host-label takes KEY=VALUE[,KEY=VALUE]', EXIT.usage);
  const topologies = list(optionalString(inv, 'topologies'));
  const expires = optionalString(inv, 'expires');
  return {
    name,
    scopes: scopes as TokenCreate['scopes'],
    ...(topologies ? { topologies } : {}),
    ...(hostLabels ? { hostLabels } : {}),
    ...(expires ? { expiresAt: expiryFrom(expires) } : {}),
  };
}

const formatTokens = (items: readonly Token[]) =>
  ['ID                               NAME             SCOPES          REACH                      EXPIRES / REVOKED']
    .concat(
      items.map((t) =>
        [
          t.id.padEnd(32),
          t.name.padEnd(16),
          t.scopes.join(',').padEnd(15),
          [...(t.topologies ?? []), ...Object.entries(t.hostLabels ?? {}).map(([k, v]) => `${k}=${v}`)].join(',').padEnd(26) ||
            '-'.padEnd(26),
          t.revokedAt ? `revoked ${t.revokedAt}` : (t.expiresAt ?? 'never'),
        ].join(' '),
      ),
    )
    .join('\n');

export async function tokens(s: Session, io: Io, inv: Invocation): Promise<number> {
  switch (inv.sub) {
    case 'create': {
      const made = await s.np.tokens.create(tokenFromFlags(inv));
      if (inv.output !== 'table') io.out(render(made, inv.output, () => ''));
      else {
        io.out(made.token);
        io.err(`token ${made.name} (${made.id}), scopes ${made.scopes.join(',')}: shown once, keep it now (only its SHA-256 is kept)`);
      }
      return EXIT.ok;
    }
    case 'list': {
      const items: Token[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.np.tokens.list({ limit: 100, ...(cursor ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      io.out(render(items, inv.output, formatTokens));
      return EXIT.ok;
    }
    case 'revoke': {
      const id = inv.args[0];
      if (!id) throw new CliError('tokens revoke: give the token id (tok_…)', EXIT.usage);
      await s.np.tokens.revoke(id);
      io.out(`token ${id}: revoked`);
      return EXIT.ok;
    }
    case undefined:
    default:
      throw new CliError('tokens: give one of create, list, revoke', EXIT.usage);
  }
}
