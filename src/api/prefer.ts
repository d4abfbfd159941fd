/** RFC 7240 Prefer: `respond-async` and `wait=N` (seconds). */
export interface Preference {
  async: boolean;
  waitMs: number;
  applied: string[];
}

export function parsePrefer(header: string | undefined, defaultWaitMs: number, maxWaitMs = 600_000): Preference {
  const pref: Preference = { async: false, waitMs: defaultWaitMs, applied: [] };
  for (const part of (header ?? '').split(',')) {
    const [rawName, rawValue] = part.split('=').map((s) => s.trim());
    const name = rawName?.toLowerCase();
    if (name === 'respond-async') {
      pref.async = true;
      pref.applied.push('respond-async');
    } else if (name === 'wait' && rawValue && /^\d{1,6}$/.test(rawValue)) {
      pref.waitMs = Math.min(Number(rawValue) * 1000, maxWaitMs);
      pref.applied.push(`wait=${rawValue}`);
    }
  }
  return pref;
}
