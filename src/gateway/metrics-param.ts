/**
 * The `metrics` parameter of telemetry: a comma-separated selection of named
 * fields (`power_draw`) and DCGM field names (`DCGM_FI_DEV_GPU_TEMP`).
 */
import { GputelError } from '../common/gputel-error.js';
import { dcgmFieldOf } from '../store/named-fields.js';
import { NAMED_FIELDS, type NamedFieldEntry } from './named-fields.js';

/** What a selection asks the query layer for, and which named fields the records carry. */
export interface MetricSelection {
  /** DCGM field names. */
  fields: ReadonlySet<string>;
  /** The named fields selected (by their own name or their DCGM field's), in record order. */
  namedFields: readonly NamedFieldEntry[];
}

/** More names than any exporter sends is a mistake, not a selection. */
const MAX_METRICS = 64;

/** Parses a selection; throws BAD_REQUEST naming the parameter, the name at fault and what is allowed. */
export function parseMetricsParam(raw: string, name = 'metrics'): MetricSelection {
  const names = raw.split(',').map((item) => item.trim());
  if (names.length > MAX_METRICS) throw new GputelError('BAD_REQUEST', `${name} lists ${names.length} names: at most ${MAX_METRICS}`);
  const fields = new Set<string>();
  for (const item of names) {
    const field = dcgmFieldOf(item);
    if (field === undefined) {
      const what = item === '' ? 'an empty name' : `"${item}", not a metric`;
      throw new GputelError(
        'BAD_REQUEST',
        `${name} has ${what}: give a comma-separated list of named fields (${NAMED_FIELDS.map(([named]) => named).join(', ')}) or DCGM field names (DCGM_FI_…)`,
      );
    }
    fields.add(field);
  }
  return { fields, namedFields: NAMED_FIELDS.filter(([, field]) => fields.has(field)) };
}
