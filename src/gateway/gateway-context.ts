/** What every route of a gateway reads from. */
import type { Setting } from '../common/setting.js';
import type { FleetQuery } from '../store/fleet-query.js';

export interface GatewayContext {
  /** The query layer: routes read through it only and decode no storage record themselves. */
  query: FleetQuery;
  /** The summaries' idle_threshold when a request gives none (--idle-threshold, live). */
  idleThreshold: Setting<number>;
}
