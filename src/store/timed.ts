/**
 * A Store whose every call is timed and reported by its name (metrics: store call duration, storage faults). A
 * Proxy, so it forwards whatever the store offers (extra methods of a store included) without listing them; `tx`
 * is timed whole, the calls inside it on their own too. It sits below FaultTolerantStore, so it sees raw faults.
 */
import { performance } from 'node:perf_hooks';
import type { Store } from './types.js';

export type StoreCallObserver = (op: string, seconds: number, error?: unknown) => void;

export function timedStore<S extends Store>(inner: S, observe: StoreCallObserver): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(inner, {
    get(target, p) {
      const v: unknown = Reflect.get(target, p, target);
      if (typeof v !== 'function' || typeof p !== 'string') return v;
      let w = wrapped.get(p);
      if (!w) {
        const fn = v as (...a: unknown[]) => unknown;
        w = (...args: unknown[]) => {
          const started = performance.now();
          const seconds = () => (performance.now() - started) / 1000;
          let r: unknown;
          try {
            r = fn.apply(target, args);
          } catch (e) {
            observe(p, seconds(), e);
            throw e;
          }
          if (r instanceof Promise)
            return r.then(
              (value: unknown) => (observe(p, seconds()), value),
              (e: unknown) => {
                observe(p, seconds(), e);
                throw e;
              },
            );
          observe(p, seconds());
          return r;
        };
        wrapped.set(p, w);
      }
      return w;
    },
  });
}
