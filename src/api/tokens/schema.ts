import { z } from '@hono/zod-openapi';
import { TokenSchema, type TokenView } from '../../model/principals.js';
import type { TokenRecord } from '../../store/types.js';
import { listOf } from '../common.js';
import { EXAMPLE_IDS, idPattern } from '../../model/names.js';

export const TokenListSchema = listOf(TokenSchema, 'TokenList');

export const TokenIdParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, pattern: idPattern('token').source, example: EXAMPLE_IDS.token }),
});

/** The API view of a stored token (never its hash). */
export function renderToken(t: TokenRecord): TokenView {
  const d = t.data as {
    scopes: TokenView['scopes'];
    topologies?: string[];
    hostLabels?: Record<string, string>;
    prefix: string;
    createdBy: string;
  };
  return {
    id: t.id,
    name: t.name,
    scopes: d.scopes,
    topologies: d.topologies ?? null,
    hostLabels: d.hostLabels ?? null,
    prefix: d.prefix,
    createdAt: t.createdAt,
    createdBy: d.createdBy,
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
  };
}
