/**
 * What sealing costs per value (docs/encryption.md): seal and open of the
 * value sizes gputel writes, through ValueSealer (AES-256-GCM, a random
 * nonce each), as µs per value and MB/s; medians of 5 rounds. Not a test.
 *
 *   npm run bench:seal
 */
import { randomBytes } from 'node:crypto';
import { parseEncryptionKeys, generateEncryptionKeyLine } from '../src/kv/encryption-key-file.js';
import { ValueSealer } from '../src/kv/value-sealer.js';
import { median } from './median.js';

const ROUNDS = 5;
/** Values of each size sealed per round: about 64 MB, and at least 2,000. */
const BYTES_PER_ROUND = 64e6;
const KEY = '/gputel/clusters/default/hosts/gpu-node-001/gpus/GPU-0a1b2c3d/data/1772409600000-1772409900000-1772409900000-0a1b2c3d-000000000001';
/** A latest/{host} or metadata value, a per-message chunk, a compacted chunk, a queued message. */
const SIZES = [512, 4_096, 65_536, 262_144, 480_000];

function timeUs(values: number, run: () => void): number {
  const started = performance.now();
  run();
  return ((performance.now() - started) * 1000) / values;
}

function main(): void {
  const sealer = new ValueSealer(parseEncryptionKeys(generateEncryptionKeyLine('bench'), 'bench'));
  console.log(`seal/open benchmark: AES-256-GCM through ValueSealer, median of ${ROUNDS} rounds`);
  // Untimed: the first figures would otherwise include compiling the path.
  const warm = sealer.seal(KEY, randomBytes(SIZES[0]));
  for (let i = 0; i < 5_000; i++) sealer.open(KEY, sealer.seal(KEY, warm));
  for (const size of SIZES) {
    const count = Math.max(2_000, Math.round(BYTES_PER_ROUND / size));
    const plain = randomBytes(size);
    const sealed = sealer.seal(KEY, plain);
    const sealUs: number[] = [];
    const openUs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      sealUs.push(timeUs(count, () => {
        for (let i = 0; i < count; i++) sealer.seal(KEY, plain);
      }));
      openUs.push(timeUs(count, () => {
        for (let i = 0; i < count; i++) sealer.open(KEY, sealed);
      }));
    }
    const seal = median(sealUs);
    const open = median(openUs);
    console.log(
      `${String(size).padStart(7)} B: seal ${seal.toFixed(2)} µs (${(size / seal).toFixed(0)} MB/s), open ${open.toFixed(2)} µs (${(size / open).toFixed(0)} MB/s), ` +
        `+${sealed.length - size} B per value`,
    );
  }
}

main();
