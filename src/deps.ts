import type { JobRunner } from './jobs/runner.js';
import type { HostServices } from './exec/pool.js';
import type { Store } from './store/types.js';

export interface AppConfig {
  /** Bearer token; unset = no auth (the server then binds loopback only). */
  token?: string | undefined;
  defaultWaitMs: number;
  idempotencyTtlMs: number;
  maxBodyBytes: number;
  /** When set, SSH `privateKeyPath`s must lie inside this directory (API callers cannot point the service at other files). */
  keyDir?: string | undefined;
}

export interface AppDeps {
  store: Store;
  runner: JobRunner;
  hosts: HostServices;
  config: AppConfig;
}
