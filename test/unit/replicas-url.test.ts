import { describe, expect, it } from 'vitest';
import { describeDb } from '../../src/replicas.js';

describe('the database as start-up lines and logs show it', () => {
  it('never with a password, in the user part or as a query parameter', () => {
    const shown = describeDb('postgres://np:s3cret@db.example:5432/netplumb?password=hunter2&sslkey=/k&application_name=np');
    expect(shown).not.toContain('s3cret');
    expect(shown).not.toContain('hunter2');
    expect(shown).toContain('db.example:5432/netplumb');
    expect(shown).toContain('application_name=np');
    expect(describeDb('./data/netplumb.db')).toBe('./data/netplumb.db');
  });
});
