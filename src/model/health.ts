/** How the store is, as /healthz, /readyz and a `storage-unavailable` problem's `store` member show it. */
import { z } from '@hono/zod-openapi';
import { Timestamp } from './formats.js';

export const StoreHealthSchema = z
  .object({
    status: z.enum(['ok', 'failing']),
    writable: z.boolean().openapi({ description: 'the last write (or probe) succeeded and nothing waits to be written' }),
    pendingWrites: z.number().int().min(0).max(2_147_483_647).openapi({ description: 'writes kept in memory, waiting for the store' }),
    since: Timestamp.optional().openapi({ description: 'when the store started failing' }),
    error: z.string().max(2000).optional().openapi({ description: 'how it fails' }),
    retryAfterS: z.number().int().min(0).max(86_400).openapi({ description: 'what a 503 `storage-unavailable` says in `Retry-After`' }),
  })
  .openapi('StoreHealth');
