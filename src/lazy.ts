/**
 * Modules loaded on first use rather than at start-up. dockerode (with its gRPC and tar dependencies), ssh2 and yaml
 * together cost ~250 ms of a cold start, and a service answers /healthz long before its first job needs any of them.
 * Each is CommonJS (or ships a CommonJS build), so a synchronous require keeps the callers synchronous.
 */
import { createRequire } from 'node:module';

const requireModule = createRequire(import.meta.url);

/** A function returning the module, loading it the first time it is called. */
export function lazyModule<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireModule(id) as T);
}
