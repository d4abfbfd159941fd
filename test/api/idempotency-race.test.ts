/**
 * The store's unique key decides an Idempotency-Key race, not the read before the write: a request whose check
 * missed the winner's record (as when two replicas read at once) is refused by the store, runs its transaction
 * again and answers what the winner answers. Runs on SQLite (api) and PostgreSQL (api-pg).
 */
import { describe, expect, it } from 'vitest';
import { ForwardingStore } from '../../src/store/forwarding.js';
import type { IdempotencyRecord } from '../../src/store/types.js';
import { localHost, testApp } from '../helpers/app.js';

/** Hides the next `misses` idempotency records from reads (the other replica's commit not seen yet). */
class StaleReads extends ForwardingStore {
  misses = 0;
  override async getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    if (this.misses > 0) {
      this.misses--;
      return null;
    }
    return await super.getIdempotency(key);
  }
}

describe('Idempotency-Key race', () => {
  it('the unique key refuses the second insert; the request replays the first answer and no second job runs', async () => {
    let stale: StaleReads | undefined;
    const t = await testApp({ wrapStore: (s) => (stale = new StaleReads(s)) });
    expect((await t.json('POST', '/hosts', localHost('docker1'))).status).toBe(201);
    const made = await t.json('POST', '/bridges', { host: 'docker1', name: 'br_race', type: 'linux' });
    expect(made.status).toBe(201);
    const { id } = await made.json();
    const body = { addresses: ['10.0.1.1/24'], mtu: 1400 };
    const headers = { 'Idempotency-Key': 'race-1' };
    const first = await t.json('PATCH', `/bridges/${id}`, body, headers);
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    const jobsBefore = (await t.store.listJobs({ limit: 100 })).items.length;
    const callsBefore = t.world.calls.length;

    stale!.misses = 1;
    const second = await t.json('PATCH', `/bridges/${id}`, body, headers);
    expect(stale!.misses).toBe(0);
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotency-replayed')).toBe('true');
    expect(await second.text()).toBe(firstBody);
    // The job row of the losing attempt was rolled back with its transaction; no command ran again.
    expect((await t.store.listJobs({ limit: 100 })).items).toHaveLength(jobsBefore);
    expect(t.world.calls.length).toBe(callsBefore);
    expect(await t.store.allResources('bridge')).toHaveLength(1);
  });
});
