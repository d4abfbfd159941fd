/**
 * Seals every record's `secret` before it reaches the underlying store and opens it on the way out, so secrets
 * are never in the database files in plain text. The secret is opaque here: the whole object is sealed as JSON,
 * bound to the record's id. Stored form: `{ "sealed": "v1:…" }`.
 *
 * Without a key, a new secret is refused (the API answers 422 before it gets here). Rows from before sealing
 * (plain text) are still read, and sealed in place by sealPlaintext() once a key is configured. A sealed secret
 * that cannot be opened (no key, another key) comes out as it is stored: it holds no usable key material.
 */
import { SecretBox } from '../secrets.js';
import { ForwardingStore } from './forwarding.js';
import type { ListQuery, NewResourceRecord, Page, ResourcePatch, ResourceRecord, Store } from './types.js';

type Secret = ResourceRecord['secret'];

export class SecretsNotSealableError extends Error {
  constructor() {
    super('refusing to store a secret in plain text: NETPLUMB_SECRET_KEY is not set');
    this.name = 'SecretsNotSealableError';
  }
}

const sealedForm = (s: Secret): string | null => {
  if (!s || Object.keys(s).length !== 1) return null;
  return SecretBox.isSealed(s.sealed) ? s.sealed : null;
};

export class SealedSecretsStore extends ForwardingStore {
  constructor(
    inner: Store,
    private readonly box: SecretBox | null,
  ) {
    super(inner);
  }

  override async insertResource(r: NewResourceRecord): Promise<ResourceRecord> {
    return this.openRecord(await this.inner.insertResource(await this.seal(r, false)));
  }
  override async updateResource(r: ResourceRecord): Promise<ResourceRecord> {
    return this.openRecord(await this.inner.updateResource(await this.seal(r, true)));
  }
  override async patchResource(id: string, patch: ResourcePatch, expectedVersion?: number): Promise<ResourceRecord | null> {
    return this.open(await this.inner.patchResource(id, patch, expectedVersion));
  }
  override async getResource(id: string): Promise<ResourceRecord | null> {
    return this.open(await this.inner.getResource(id));
  }
  override async getResourceByKey(type: string, key: string): Promise<ResourceRecord | null> {
    return this.open(await this.inner.getResourceByKey(type, key));
  }
  override async listResources(type: string, q: ListQuery & { where?: Record<string, string | undefined> }): Promise<Page<ResourceRecord>> {
    const p = await this.inner.listResources(type, q);
    return { ...p, items: p.items.map((r) => this.openRecord(r)) };
  }
  override async allResources(type: string, where?: Record<string, string | undefined>): Promise<ResourceRecord[]> {
    return (await this.inner.allResources(type, where)).map((r) => this.openRecord(r));
  }

  /**
   * Seals the plain-text secrets of these resource types in place (when a key is set) and counts what it saw.
   * `unreadable`: sealed secrets this key cannot open (no key, or another one).
   */
  async sealPlaintext(types: readonly string[]): Promise<{ sealed: number; plaintext: number; unreadable: number }> {
    const n = { sealed: 0, plaintext: 0, unreadable: 0 };
    for (const type of types) {
      for (const r of await this.inner.allResources(type)) {
        if (!r.secret) continue;
        if (sealedForm(r.secret)) {
          if (this.openRecord(r).secret === r.secret) n.unreadable++;
          continue;
        }
        n.plaintext++;
        if (this.box) {
          await this.inner.updateResource(await this.seal(r, false));
          n.sealed++;
        }
      }
    }
    if (n.sealed) await this.inner.scrub?.();
    return n;
  }

  private async seal<R extends NewResourceRecord>(r: R, update: boolean): Promise<R> {
    if (!r.secret || sealedForm(r.secret)) return r;
    if (!this.box) {
      // A row from before sealing, written back unchanged (e.g. a probe updating facts): no worse than it was.
      if (update && (await this.isStoredPlaintext(r))) return r;
      throw new SecretsNotSealableError();
    }
    return { ...r, secret: { sealed: this.box.seal(JSON.stringify(r.secret), r.id) } };
  }

  private async isStoredPlaintext(r: NewResourceRecord): Promise<boolean> {
    const stored = (await this.inner.getResource(r.id))?.secret;
    return !!stored && !sealedForm(stored) && JSON.stringify(stored) === JSON.stringify(r.secret);
  }

  private openRecord(r: ResourceRecord): ResourceRecord {
    return this.open(r)!;
  }

  private open(r: ResourceRecord | null): ResourceRecord | null {
    const sealed = r ? sealedForm(r.secret) : null;
    if (!r || !sealed || !this.box) return r;
    try {
      return { ...r, secret: JSON.parse(this.box.open(sealed, r.id)) as Secret };
    } catch {
      return r;
    }
  }
}

/** The store with secrets sealed under `key`; plain-text rows of `types` are sealed now, and what is off is said. */
export async function sealedSecretsStore(
  inner: Store,
  key: Buffer | undefined,
  types: readonly string[],
  warn: (msg: string) => void = console.warn,
): Promise<SealedSecretsStore> {
  const store = new SealedSecretsStore(inner, key ? new SecretBox(key) : null);
  const n = await store.sealPlaintext(types);
  if (n.sealed) warn(`sealed ${n.sealed} secret(s) stored in plain text by an older version with NETPLUMB_SECRET_KEY`);
  else if (n.plaintext)
    warn(`${n.plaintext} secret(s) are stored in plain text: set NETPLUMB_SECRET_KEY (or NETPLUMB_SECRET_KEY_FILE) to seal them`);
  if (n.unreadable)
    warn(
      `${n.unreadable} sealed secret(s) cannot be opened ${key ? 'with this NETPLUMB_SECRET_KEY' : 'without NETPLUMB_SECRET_KEY'}: their hosts cannot connect until the key they were sealed with is configured`,
    );
  return store;
}
