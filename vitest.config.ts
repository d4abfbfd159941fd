import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One PostgreSQL for the run (a throwaway cluster unless NETPLUMB_TEST_PG_URL answers): the store contract
    // suite, the api-pg project and the replica tests use it.
    globalSetup: ['test/helpers/pg-global-setup.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000, setupFiles: ['test/helpers/setup.ts'] } },
      { test: { name: 'api', include: ['test/api/**/*.test.ts'], testTimeout: 30_000, setupFiles: ['test/helpers/setup.ts'] } },
      {
        // The same API suite on the PostgreSQL store (test/helpers/test-store.ts), fake hosts as in `api`.
        test: {
          name: 'api-pg',
          include: ['test/api/**/*.test.ts'],
          testTimeout: 30_000,
          setupFiles: ['test/helpers/setup.ts'],
          env: { NETPLUMB_TEST_STORE: 'postgres' },
        },
      },
      {
        // The same API suite over a real socket: each app.request() goes to the app served on a loopback port as
        // src/server.ts serves it, and the contract check reads the answers as they arrived (test/helpers/socket.ts).
        test: {
          name: 'api-http',
          include: ['test/api/**/*.test.ts'],
          // These two talk to a server of their own already (the SDK over HTTP): running them again adds only time.
          exclude: ['test/api/sdk.test.ts', 'test/api/sdk-package.test.ts'],
          testTimeout: 30_000,
          setupFiles: ['test/helpers/setup.ts'],
          env: { NETPLUMB_TEST_TRANSPORT: 'socket' },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Real hosts (namespaces, OVS, dockerd, sshd) on a 2-core machine: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
