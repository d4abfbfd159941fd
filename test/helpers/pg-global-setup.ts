/**
 * vitest globalSetup: one PostgreSQL for the whole run. NETPLUMB_TEST_PG_URL names a server to use when it is
 * reachable; otherwise a throwaway cluster is started (pg-cluster.ts) and stopped and removed at the end. Tests read
 * the URL from NETPLUMB_TEST_PG_URL (each file makes its own database: test-store.ts).
 */
import type { TestProject } from 'vitest/node';
import { reachable, startCluster, type PgCluster } from './pg-cluster.js';

let cluster: PgCluster | null = null;

export async function setup(project: TestProject): Promise<void> {
  const given = process.env.NETPLUMB_TEST_PG_URL;
  let url: string;
  if (given && (await reachable(given))) url = given;
  else {
    cluster = await startCluster();
    url = cluster.url;
  }
  process.env.NETPLUMB_TEST_PG_URL = url;
  project.provide('pgUrl', url);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  cluster = null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}
