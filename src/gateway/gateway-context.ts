/** What every route of a gateway reads from. */
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import type { FleetQuery } from '../store/fleet-query.js';
import type { Registry } from '../store/registry.js';

export interface GatewayContext {
  /** The query layer: routes read through it only and decode no storage record themselves. */
  query: FleetQuery;
  kv: KvStore;
  keys: KeySpace;
  cluster: string;
  registry: Registry;
}
