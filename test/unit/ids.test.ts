import { describe, expect, it } from 'vitest';
import { newId } from '../../src/model/names.js';

describe('ids', () => {
  it('sort in creation order, even many in one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('tunnel'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toMatch(/^tun_[a-z2-7]{20}$/);
  });
});
