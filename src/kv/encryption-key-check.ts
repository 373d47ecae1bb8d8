/**
 * Checks a process's key file against the store before it writes anything
 * (docs/encryption.md). Each key id that ever sealed data under a root has a
 * check value, `{root}/encryption/{id}`: a constant sealed with that key. A
 * process whose key under an id differs from the one that made the check
 * value, or that has no key file while check values exist, is refused at
 * start with STORE_KEY, instead of writing values the others cannot open
 * (or plaintext next to sealed data).
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import type { KeySpace } from './key-space.js';
import type { KeyValue, KvStore } from './kv-store.js';
import { sealedKeyId, type ValueSealer } from './value-sealer.js';

/** What every check value holds, sealed. Known plaintext costs AES-GCM nothing. */
const CHECK_PLAINTEXT = Buffer.from('gputel encryption key check, format 1');

/**
 * Records a check value for each key of the file that has none, and
 * verifies the others open to the constant. Throws STORE_KEY (naming the id
 * and what to do) on a mismatch or a keyless process meeting check values;
 * warns about ids the store knows and the file lacks (reads of what they
 * sealed will fail). `kv` is the bare store: check values are sealed here,
 * each with its own key, not by the wrapper.
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
  for (const id of ring.keys.keys()) {
    const checkKey = keys.encryptionKeyCheck(id);
    let found = stored.get(checkKey);
    if (found === undefined) {
      // The first process with this key records it, unless another process did meanwhile.
      const recorded = await kv.txn({
        compare: [{ key: checkKey, target: 'createRevision', operator: '==', operand: 0 }],
        success: [{ type: 'put', key: checkKey, value: sealer.seal(checkKey, CHECK_PLAINTEXT, id) }],
        failure: [{ type: 'range', range: { start: checkKey } }],
      });
      if (recorded.succeeded) {
        logger?.info({ keyId: id, checkKey }, `encryption key "${id}" recorded under ${checkKey}`);
        continue;
      }
      const [range] = recorded.results;
      found = range?.type === 'range' ? range.result.kvs[0] : undefined;
      if (found === undefined) continue; // recorded and deleted meanwhile: nothing to compare with
    }
    verify(found, id, sealer, ring.file);
    stored.delete(checkKey);
  }
  if (stored.size > 0) {
    logger?.warn(
      `the store under ${keys.root} holds data sealed with encryption key(s) ${idsOf(stored, prefix)}, which ${ring.file} does not list: reading it fails with STORE_KEY. ` +
        `Add the key(s) to the file; if every value they sealed has been rewritten (gputel encryption-key reseal), delete their check values under ${prefix}`,
    );
  }
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
