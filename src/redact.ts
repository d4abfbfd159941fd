/**
 * Secrets (the API token, inline private keys) never leave the service: every string of anything stored or
 * answered — job errors, problems, log lines — passes through one Redactor, at any depth, not only `detail`.
 */
export const REDACTED = '[REDACTED]';

/** Shorter strings are too likely to occur by chance (and a token is at least 16 characters). */
const MIN_SECRET = 8;
/** Lines of a multi-line secret (a PEM/OpenSSH key) that are redacted on their own, e.g. when stderr quotes one. */
const MIN_LINE = 16;

export class Redactor {
  private secrets: string[] = [];

  add(secret: string): void {
    const add = (s: string) => {
      if (s.length >= MIN_SECRET && !this.secrets.includes(s)) this.secrets.push(s);
    };
    add(secret);
    if (secret.includes('\n')) {
      for (const line of secret.split(/\r?\n/)) {
        const t = line.trim();
        if (t.length >= MIN_LINE && !t.startsWith('-----')) add(t);
      }
    }
    // Longest first: a whole key is replaced once, not line by line.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  text(t: string): string {
    let out = t;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /** A copy of v with every string (and object key) redacted, at any depth. */
  deep<T>(v: T): T {
    if (!this.secrets.length) return v;
    return this.walk(v, 0) as T;
  }

  private walk(v: unknown, depth: number): unknown {
    if (typeof v === 'string') return this.text(v);
    if (depth > 32 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.walk(x, depth + 1));
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[this.text(k)] = this.walk(x, depth + 1);
    return out;
  }
}
