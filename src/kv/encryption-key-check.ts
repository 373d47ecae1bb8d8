/**
 * Checks a process's key file against the store before it writes anything
 * (docs/encryption.md). Each key id that sealed data under a root has a
 * check value, `{root}/encryption/{id}`: a constant sealed with that key. A
 * process whose key under an id differs from the one that made the check
 * value, whose file shares no key with the store's, or that has no key file
 * while check values exist, is refused at start with STORE_KEY, instead of
 * writing values the others cannot open (or plaintext next to sealed data).
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import type { EncryptionKeyRing } from './encryption-key-file.js';
import type { KeySpace } from './key-space.js';
import type { KeyValue, KvStore } from './kv-store.js';
import { sealedKeyId, type ValueSealer } from './value-sealer.js';

/** What every check value holds, sealed. Known plaintext costs AES-GCM nothing. */
const CHECK_PLAINTEXT = Buffer.from('gputel encryption key check, format 1');

/**
 * Decides first, writes last, so that a refused process leaves the store as
 * it found it: verifies every key of the file the store already knows,
 * refuses a file that shares no key with a store whose data is sealed, and
 * only then records a check value, for the newest key alone (the one this
 * process seals with) when the store has none for it. Recording keys the
 * process never seals with would make every other process warn about data
 * "sealed with" keys that sealed nothing. Throws STORE_KEY (naming the ids
 * and what to do) on a mismatch, a file with no known key, or a keyless
 * process meeting check values; warns about ids the store knows and the file
 * lacks (reads of what they sealed will fail). `kv` is the bare store: check
 * values are sealed here, each with its own key, not by the wrapper.
 */
export async function checkEncryptionKeys(kv: KvStore, sealer: ValueSealer, keys: KeySpace, logger?: Logger): Promise<void> {
  const prefix = keys.encryptionKeyChecksPrefix();
  const stored = new Map((await kv.range({ prefix })).kvs.map((found) => [found.key, found]));
  const ring = sealer.ring;
  if (ring === undefined) {
    if (stored.size === 0) return;
    throw new GputelError(
      'STORE_KEY',
      `the data under ${keys.root} is sealed (encryption keys ${idsOf(stored, prefix)}), and this process has no --encryption-key-file: ` +
        'start it with the key file the other gputel processes use',
    );
  }
  const unknown = new Map(stored);
  for (const id of ring.keys.keys()) {
    const found = stored.get(keys.encryptionKeyCheck(id));
    if (found === undefined) continue;
    verify(found, id, sealer, ring.file);
    unknown.delete(found.key);
  }
  if (stored.size > 0 && unknown.size === stored.size) {
    // Not one key in common: what this process seals, no other process opens, and it opens nothing stored.
    const fileIds = [...ring.keys.keys()].map((id) => `"${id}"`).join(', ');
    throw new GputelError(
      'STORE_KEY',
      `the data under ${keys.root} is sealed with encryption key(s) ${idsOf(stored, prefix)}, and ${ring.file} holds none of them (it holds ${fileIds}): ` +
        'start this process with the key file the other gputel processes use. To add a new key, append its line to that file ' +
        `(gputel encryption-key generate >> FILE), so that it keeps the known keys, and roll the whole file out (docs/encryption.md, rotating keys)`,
    );
  }
  await recordNewest(kv, sealer, keys, ring, stored, logger);
  if (unknown.size > 0) {
    logger?.warn(
      `the store under ${keys.root} holds data sealed with encryption key(s) ${idsOf(unknown, prefix)}, which ${ring.file} does not list: reading it fails with STORE_KEY. ` +
        `Add the key(s) to the file; if every value they sealed has been rewritten (gputel encryption-key reseal), delete their check values under ${prefix}`,
    );
  }
}

/** Records the check value of the key this process seals with, unless the store has one (verified above) or another process records it meanwhile. */
async function recordNewest(kv: KvStore, sealer: ValueSealer, keys: KeySpace, ring: EncryptionKeyRing, stored: Map<string, KeyValue>, logger?: Logger): Promise<void> {
  const id = ring.newest.id;
  const checkKey = keys.encryptionKeyCheck(id);
  if (stored.has(checkKey)) return;
  const recorded = await kv.txn({
    compare: [{ key: checkKey, target: 'createRevision', operator: '==', operand: 0 }],
    success: [{ type: 'put', key: checkKey, value: sealer.seal(checkKey, CHECK_PLAINTEXT, id) }],
    failure: [{ type: 'range', range: { start: checkKey } }],
  });
  if (recorded.succeeded) {
    logger?.info({ keyId: id, checkKey }, `encryption key "${id}" recorded under ${checkKey}`);
    return;
  }
  const [range] = recorded.results;
  const found = range?.type === 'range' ? range.result.kvs[0] : undefined;
  if (found !== undefined) verify(found, id, sealer, ring.file);
}

function verify(found: KeyValue, id: string, sealer: ValueSealer, file: string): void {
  let opened: Buffer | undefined;
  try {
    opened = sealedKeyId(found.value) === id ? sealer.open(found.key, found.value) : undefined;
  } catch {
    opened = undefined;
  }
  if (opened === undefined || !opened.equals(CHECK_PLAINTEXT)) {
    throw new GputelError(
      'STORE_KEY',
      `encryption key "${id}" of ${file} is not the key "${id}" that sealed this store's data (its check value ${found.key} does not open with it): ` +
        'every gputel process must use the same key file; copy the file the other processes use',
    );
  }
}

function idsOf(stored: Map<string, KeyValue>, prefix: string): string {
  return [...stored.keys()].map((key) => `"${key.slice(prefix.length)}"`).join(', ');
}
