/**
 * Seals and opens one stored value with AES-256-GCM (docs/encryption.md):
 *
 *   offset  bytes  field
 *   0       3      magic C1 47 53 ("\xC1GS"; 0xC1 starts no MessagePack
 *                  value and no UTF-8 text, so no plaintext gputel writes
 *                  (JSON, MessagePack, chunks) is mistaken for a sealed value)
 *   3       1      format version, 1
 *   4       1      key id length L (1-64)
 *   5       L      key id (ASCII), the key file's id of the sealing key
 *   5+L     12     nonce, random per value
 *   17+L    n      ciphertext (as long as the plaintext)
 *   17+L+n  16     GCM tag
 *
 * The additional authenticated data is the header (bytes 0 to 5+L) followed
 * by the value's store key, so a value copied or moved to another key, or
 * given another key id, does not open.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { GputelError } from '../common/gputel-error.js';
import type { EncryptionKeyRing } from './encryption-key-file.js';

const MAGIC = Buffer.from([0xc1, 0x47, 0x53]);
export const SEALED_FORMAT_VERSION = 1;
const VERSION_OFFSET = 3;
const KEY_ID_LENGTH_OFFSET = 4;
const KEY_ID_OFFSET = 5;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';
/**
 * Nonces are drawn from the CSPRNG this many at a time: one randomFillSync
 * call costs ~4 µs however small (measured on the dev machine), a third of
 * sealing a small value; drawn in bulk a nonce costs ~10 ns.
 */
const NONCES_PER_DRAW = 4_096;

/** Whether `value` starts like a sealed value (magic bytes): anything else is plaintext. */
export function isSealedValue(value: Buffer): boolean {
  return value.length > VERSION_OFFSET && value[0] === MAGIC[0] && value[1] === MAGIC[1] && value[2] === MAGIC[2];
}

/** The id of the key that sealed `value` (a sealed value, see isSealedValue), or undefined when its header is cut short. */
export function sealedKeyId(value: Buffer): string | undefined {
  const length = value[KEY_ID_LENGTH_OFFSET];
  if (length === undefined || value.length < KEY_ID_OFFSET + length) return undefined;
  return value.toString('latin1', KEY_ID_OFFSET, KEY_ID_OFFSET + length);
}

export class ValueSealer {
  /** The header of each key id (the newest one's is made once, here). */
  private readonly headers = new Map<string, Buffer>();
  private readonly nonces = Buffer.allocUnsafe(NONCES_PER_DRAW * NONCE_BYTES);
  /** Where the next unused nonce starts; at the end, the pool is drawn again. */
  private nonceOffset = this.nonces.length;

  /** `ring` undefined: this process has no key; it writes plaintext and refuses to open sealed values. */
  constructor(readonly ring: EncryptionKeyRing | undefined) {
    for (const id of ring?.keys.keys() ?? []) {
      const idBytes = Buffer.from(id, 'latin1');
      this.headers.set(id, Buffer.concat([MAGIC, Buffer.from([SEALED_FORMAT_VERSION, idBytes.length]), idBytes]));
    }
  }

  /** Whether this process seals what it writes. */
  get sealing(): boolean {
    return this.ring !== undefined;
  }

  /**
   * Seals `plaintext` for the store key `key` with the newest key (or the
   * key `keyId` of the file). Throws INTERNAL when the process has no such
   * key (callers check `sealing`).
   */
  seal(key: string, plaintext: Buffer, keyId = this.ring?.newest.id): Buffer {
    const header = keyId === undefined ? undefined : this.headers.get(keyId);
    const secret = keyId === undefined ? undefined : this.ring?.keys.get(keyId);
    if (header === undefined || secret === undefined) throw new GputelError('INTERNAL', `seal() called without encryption key ${String(keyId)}`);
    const sealed = Buffer.allocUnsafe(header.length + NONCE_BYTES + plaintext.length + TAG_BYTES);
    header.copy(sealed, 0);
    if (this.nonceOffset === this.nonces.length) {
      randomFillSync(this.nonces);
      this.nonceOffset = 0;
    }
    // Each nonce of the pool is used once: copied out, never handed out again.
    this.nonces.copy(sealed, header.length, this.nonceOffset, this.nonceOffset + NONCE_BYTES);
    this.nonceOffset += NONCE_BYTES;
    const nonce = sealed.subarray(header.length, header.length + NONCE_BYTES);
    const cipher = createCipheriv(CIPHER, secret, nonce);
    cipher.setAAD(additionalData(header, key));
    let offset = header.length + NONCE_BYTES;
    offset += cipher.update(plaintext).copy(sealed, offset);
    offset += cipher.final().copy(sealed, offset);
    cipher.getAuthTag().copy(sealed, offset);
    return sealed;
  }

  /**
   * Opens a sealed value (see isSealedValue) read at store key `key`.
   * Throws STORE_KEY, saying which key and what to do, when this process has
   * no key file, does not hold the key id, or the value does not open (the
   * wrong key under that id, a tampered value, or one moved from another key).
   */
  open(key: string, sealed: Buffer): Buffer {
    const version = sealed[VERSION_OFFSET];
    if (version !== SEALED_FORMAT_VERSION) {
      throw new GputelError('STORE_KEY', `value at ${key} is sealed in format version ${version}, which this gputel does not know: upgrade gputel to read it`);
    }
    const keyId = sealedKeyId(sealed);
    const headerLength = KEY_ID_OFFSET + (keyId?.length ?? 0);
    if (keyId === undefined || keyId.length === 0 || sealed.length < headerLength + NONCE_BYTES + TAG_BYTES) {
      throw new GputelError('STORE_KEY', `value at ${key} is a sealed value cut short (${sealed.length} bytes): it was altered in the store; restore it or delete the key`);
    }
    if (this.ring === undefined) {
      throw new GputelError(
        'STORE_KEY',
        `value at ${key} is sealed with encryption key ${JSON.stringify(keyId)}, and this process has no --encryption-key-file: start it with the key file the other gputel processes use`,
      );
    }
    const secret = this.ring.keys.get(keyId);
    if (secret === undefined) {
      throw new GputelError(
        'STORE_KEY',
        `value at ${key} is sealed with encryption key ${JSON.stringify(keyId)}, which ${this.ring.file} does not hold (it holds ${[...this.ring.keys.keys()].map((id) => `"${id}"`).join(', ')}): ` +
          'add that key\'s line to the file; a retired key must stay listed until every value it sealed has been rewritten',
      );
    }
    const nonceEnd = headerLength + NONCE_BYTES;
    const tagStart = sealed.length - TAG_BYTES;
    try {
      const decipher = createDecipheriv(CIPHER, secret, sealed.subarray(headerLength, nonceEnd));
      decipher.setAAD(additionalData(sealed.subarray(0, headerLength), key));
      decipher.setAuthTag(sealed.subarray(tagStart));
      const head = decipher.update(sealed.subarray(nonceEnd, tagStart));
      const tail = decipher.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (error) {
      throw new GputelError(
        'STORE_KEY',
        `value at ${key} does not open with encryption key ${JSON.stringify(keyId)} of ${this.ring.file}: ` +
          `either the key under ${JSON.stringify(keyId)} differs from the one that sealed it (check that every gputel process uses the same key file), ` +
          'or the value was altered or moved here from another key (restore it or delete the key)',
        { cause: error },
      );
    }
  }
}

function additionalData(header: Buffer, key: string): Buffer {
  const aad = Buffer.allocUnsafe(header.length + Buffer.byteLength(key, 'utf8'));
  header.copy(aad, 0);
  aad.write(key, header.length, 'utf8');
  return aad;
}
