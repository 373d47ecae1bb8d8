/** What every route of a gateway reads from. */
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import type { Registry } from '../store/registry.js';

export interface GatewayContext {
  kv: KvStore;
  keys: KeySpace;
  cluster: string;
  registry: Registry;
}
