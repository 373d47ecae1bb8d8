/**
 * The fleet's tiles: one link per GPU (or MIG instance), grouped by host, in
 * one DOM grid per host and no chart per GPU, so 1,000 GPUs stay cheap.
 * Values change in place: a record updates its own tile's colour and text,
 * batched to one pass per animation frame, never a re-render of the grid.
 */
import { colourOf, needsDarkText } from './colour-scale.js';
import { gpuLabel, latestValues, seriesKey, type FleetGpu } from './fleet-data.js';
import { el } from './dom.js';
import { formatValue } from './format.js';
import type { MetricInfo, MetricName } from './metrics.js';
import { gpuHref, hostHref } from './router.js';

interface Tile {
  gpu: FleetGpu;
  values: Record<MetricName, number | null>;
  /** The time of the newest record in `values` (epoch ms): the list's lastSeen, or a live record's. */
  valuesAtMs: number;
  element: HTMLAnchorElement;
  value: HTMLElement;
}

export interface TileFilter {
  host: string;
  model: string;
  status: string;
  /** Lower-cased search text, matched against id, UUID, hostname and model. */
  search: string;
  /** Ids of the namespace filter's GPUs, or null for no namespace filter. */
  ids: Set<string> | null;
}

export class TileGrid {
  readonly element = el('div', { class: 'hosts' });
  private tiles = new Map<string, Tile>();
  private idOfSeries = new Map<string, string>();
  private hostSections = new Map<string, HTMLElement>();
  private pending = new Set<Tile>();
  private frame: number | undefined;
  private signature = '';

  constructor(private metric: MetricInfo) {}

  /**
   * Shows this list. The same GPUs in the same order (the usual refresh)
   * update status and values in place; any other change rebuilds the grid.
   */
  setGpus(gpus: FleetGpu[]): void {
    const signature = gpus.map((gpu) => gpu.id).join('\n');
    if (signature === this.signature) {
      for (const gpu of gpus) {
        const tile = this.tiles.get(gpu.id);
        if (tile === undefined) continue;
        const listedAtMs = listTime(gpu);
        // A live record newer than the list (read before it arrived) keeps its values and its status.
        if (tile.valuesAtMs > listedAtMs) {
          tile.gpu = { ...gpu, status: tile.gpu.status };
        } else {
          tile.gpu = gpu;
          tile.values = { ...tile.values, ...definedOnly(latestValues(gpu)) };
          tile.valuesAtMs = listedAtMs;
        }
        this.schedule(tile);
      }
      return;
    }
    this.signature = signature;
    const old = this.tiles;
    this.tiles = new Map();
    this.idOfSeries = new Map();
    this.hostSections = new Map();
    const fragment = document.createDocumentFragment();
    let grid: HTMLElement | undefined;
    let host: string | undefined;
    for (const gpu of gpus) {
      if (gpu.hostname !== host) {
        host = gpu.hostname;
        grid = el('div', { class: 'tiles' });
        const count = gpus.filter((other) => other.hostname === host).length;
        const section = el('section', { class: 'host', 'data-host': host }, el('h2', {}, el('a', { href: hostHref(host) }, host), el('span', { class: 'muted' }, ` ${count} GPU${count === 1 ? '' : 's'}`)), grid);
        this.hostSections.set(host, section);
        fragment.append(section);
      }
      const tile = this.makeTile(gpu, old.get(gpu.id));
      this.tiles.set(gpu.id, tile);
      this.idOfSeries.set(seriesKey(gpu.hostname, gpu.uuid, gpu.migInstanceId), gpu.id);
      grid?.append(tile.element);
    }
    this.element.replaceChildren(fragment);
  }

  /** The ids of the GPUs shown, in order. */
  get ids(): string[] {
    return [...this.tiles.keys()];
  }

  /** Recolours every tile by another metric. */
  setMetric(metric: MetricInfo): void {
    this.metric = metric;
    for (const tile of this.tiles.values()) this.paint(tile);
  }

  /**
   * A live record's values (of time `atMs`), by its series. Returns
   * 'unknown' for a series not in the grid (a GPU that joined since the list
   * was read), 'status' when the record changed the tile's status (a status
   * filter must be applied again), else 'updated'.
   */
  update(hostname: string, uuid: string, migInstanceId: string | null, atMs: number, values: Partial<Record<MetricName, number | null>>): 'unknown' | 'status' | 'updated' {
    const id = this.idOfSeries.get(seriesKey(hostname, uuid, migInstanceId));
    const tile = id === undefined ? undefined : this.tiles.get(id);
    if (tile === undefined) return 'unknown';
    // An older record (one held back, or replayed) must not overwrite newer values.
    if (atMs >= tile.valuesAtMs) {
      tile.values = { ...tile.values, ...definedOnly(values) };
      tile.valuesAtMs = atMs;
    }
    // It just reported: it is active whatever the last list said.
    const wasStale = tile.gpu.status !== 'active';
    tile.gpu = { ...tile.gpu, status: 'active' };
    this.schedule(tile);
    return wasStale ? 'status' : 'updated';
  }

  /** Shows the tiles that pass `filter` (and the hosts with any); returns how many tiles and hosts are shown. */
  applyFilter(filter: TileFilter): { gpus: number; hosts: number } {
    let shown = 0;
    const hostsShown = new Set<string>();
    for (const tile of this.tiles.values()) {
      const { gpu } = tile;
      const visible =
        (filter.host === '' || gpu.hostname === filter.host) &&
        (filter.model === '' || gpu.model === filter.model) &&
        (filter.status === '' || gpu.status === filter.status) &&
        (filter.ids === null || filter.ids.has(gpu.id)) &&
        (filter.search === '' || [gpu.id, gpu.uuid, gpu.hostname, gpu.model].some((text) => text.toLowerCase().includes(filter.search)));
      tile.element.hidden = !visible;
      if (visible) {
        shown++;
        hostsShown.add(gpu.hostname);
      }
    }
    for (const [host, section] of this.hostSections) section.hidden = !hostsShown.has(host);
    return { gpus: shown, hosts: hostsShown.size };
  }

  dispose(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
  }

  private makeTile(gpu: FleetGpu, previous: Tile | undefined): Tile {
    const value = el('span', { class: 'tile-value' });
    const profile = gpu.migProfile ? ` (${gpu.migProfile})` : '';
    const element = el(
      'a',
      {
        class: gpu.migInstanceId === null ? 'tile' : 'tile mig',
        href: gpuHref(gpu.id),
        'data-testid': 'gpu-tile',
        'data-uuid': gpu.uuid,
        'data-id': gpu.id,
        title: `${gpu.hostname} ${gpuLabel(gpu)}${profile}\n${gpu.model}\n${gpu.id}`,
      },
      el('span', { class: 'tile-name' }, gpu.migInstanceId === null ? String(gpu.gpuId) : `${gpu.gpuId}·${gpu.migInstanceId}`),
      value,
    );
    // The list's newest values, unless the tile had newer ones (streamed after the list was read); a value one of them lacks comes from the other.
    const listedAtMs = listTime(gpu);
    const liveIsNewer = previous !== undefined && previous.valuesAtMs > listedAtMs;
    const listed = definedOnly(latestValues(gpu));
    const kept = previous ? definedOnly(previous.values) : {};
    const values = { ...latestValues(gpu), ...(liveIsNewer ? { ...listed, ...kept } : { ...kept, ...listed }) };
    const tile: Tile = { gpu: liveIsNewer ? { ...gpu, status: previous.gpu.status } : gpu, values, valuesAtMs: liveIsNewer ? previous.valuesAtMs : listedAtMs, element, value };
    this.paint(tile);
    return tile;
  }

  private schedule(tile: Tile): void {
    this.pending.add(tile);
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      for (const waiting of this.pending) this.paint(waiting);
      this.pending.clear();
    });
  }

  private paint(tile: Tile): void {
    const value = tile.values[this.metric.name];
    const style = tile.element.style;
    style.backgroundColor = colourOf(value, this.metric);
    style.color = needsDarkText(value, this.metric) ? '#111' : '#fff';
    tile.element.classList.toggle('stale', tile.gpu.status === 'stale');
    tile.value.textContent = formatValue(value, this.metric);
    // The raw value of the colouring metric, for tests and tools that read the page.
    tile.element.dataset.metric = this.metric.name;
    tile.element.dataset.value = value === null || value === undefined ? '' : String(value);
  }
}

/** The time of a listed GPU's newest values: its last sample (-Infinity when unknown). */
function listTime(gpu: FleetGpu): number {
  const ms = Date.parse(gpu.lastSeen);
  return Number.isNaN(ms) ? -Infinity : ms;
}

function definedOnly(values: Partial<Record<MetricName, number | null>>): Partial<Record<MetricName, number | null>> {
  return Object.fromEntries(Object.entries(values).filter((entry) => entry[1] !== null && entry[1] !== undefined));
}
