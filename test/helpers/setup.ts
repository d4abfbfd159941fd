/**
 * Runs after every test: a fake host that was sent a command it has no answer for fails the test, and so does an
 * answer of the service that openapi/openapi.json does not declare (contract.ts).
 */
import { afterAll, afterEach, expect } from 'vitest';
import { mismatches } from './contract.js';
import { worlds } from './fake-host.js';
import { closeTestServers } from './socket.js';
import { closeTestStores } from './test-store.js';

// PostgreSQL stores (api-pg project) hold connections: closed after the file; so do the api-http project's servers.
afterAll(closeTestServers);
afterAll(closeTestStores);

afterEach(() => {
  const unexpected = [...worlds].flatMap((w) => w.unexpected.splice(0));
  expect(unexpected, 'commands the fake host has no answer for (a wrong argv?)').toEqual([]);
});

afterEach(() => {
  expect(mismatches.splice(0), 'answers the API document does not declare (fix the route or its createRoute)').toEqual([]);
});
