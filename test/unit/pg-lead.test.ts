/** One reconcile loop across replicas: the lead (Coordination.lead) is held by one process; another takes over. */
import { describe, expect, it } from 'vitest';
import { openPgTestStore } from '../helpers/test-store.js';

const until = async (ok: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !ok() && Date.now() < end;) await new Promise((r) => setTimeout(r, 25));
  return ok();
};

describe('the lead of a duty across replicas', () => {
  it('one replica at a time runs it; when it lets go, another takes over', async () => {
    const a = (await openPgTestStore({ replicaId: 'A', leaseMs: 3000 })).coordination;
    const b = (await openPgTestStore({ replicaId: 'B', leaseMs: 3000 })).coordination;
    const running = new Set<string>();
    const duty = (name: string) => ({
      start: () => void running.add(name),
      stop: () => Promise.resolve(void running.delete(name)),
    });
    const leadA = a.lead(duty('A'), 100);
    expect(await until(() => running.size === 1)).toBe(true);
    const leadB = b.lead(duty('B'), 100);
    await new Promise((r) => setTimeout(r, 500));
    expect([...running]).toEqual(['A']); // B keeps trying, never both
    await leadA.close();
    expect(await until(() => running.has('B'))).toBe(true);
    expect(running.has('A')).toBe(false);
    await leadB.close();
    expect(running.size).toBe(0);
  });
});
