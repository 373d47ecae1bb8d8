/** Fault injection at the KV contract: the real store, with some of its methods replaced. */
import type { KvStore } from '../../src/kv/kv-store.js';

/** `kv` with the methods in `overrides` replaced; every other method is the store's own, bound to it. */
export function withOverrides(kv: KvStore, overrides: Partial<KvStore>): KvStore {
  return new Proxy(kv, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof KvStore];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
