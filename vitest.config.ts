import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000, setupFiles: ['test/helpers/setup.ts'] } },
      { test: { name: 'api', include: ['test/api/**/*.test.ts'], testTimeout: 30_000, setupFiles: ['test/helpers/setup.ts'] } },
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
