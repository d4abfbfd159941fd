import { describe, expect, it } from 'vitest';
import { EXAMPLE_IDS, ID_PREFIXES, idPattern, newId, resourceIdPattern } from '../../src/model/names.js';

describe('ids', () => {
  it('sort in creation order, even many in one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('tunnel'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toMatch(/^tun_[a-z2-7]{26}$/);
  });

  it("the API document's example ids are ids of their kind", () => {
    for (const kind of Object.keys(ID_PREFIXES) as (keyof typeof ID_PREFIXES)[]) {
      expect(EXAMPLE_IDS[kind], kind).toMatch(idPattern(kind));
      expect(newId(kind), kind).toMatch(idPattern(kind));
      expect(resourceIdPattern.test(EXAMPLE_IDS[kind]), kind).toBe(kind !== 'job' && kind !== 'token');
    }
  });
});

describe('ids after 2039', () => {
  it('keep sorting when the time needs more than 40 bits of milliseconds', async () => {
    const { vi } = await import('vitest');
    vi.useFakeTimers();
    try {
      vi.setSystemTime(new Date('2039-09-07T15:47:35.551Z')); // 2^40 ms - 1
      const before = newId('host');
      vi.setSystemTime(new Date('2039-09-07T15:47:35.553Z')); // past 2^40 ms
      const after = newId('host');
      vi.setSystemTime(new Date('2150-01-01T00:00:00Z'));
      const later = newId('host');
      expect([later, after, before].sort()).toEqual([before, after, later]);
    } finally {
      vi.useRealTimers();
    }
  });
});
