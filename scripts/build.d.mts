/** Types for scripts/build.mjs (plain JavaScript so `npm start` needs no TypeScript loader). */
export const ENTRIES: Record<string, string>;
export function isStale(): boolean;
export function buildAll(options?: { quiet?: boolean }): Promise<void>;
