/**
 * The encryption key file (`--encryption-key-file`, docs/encryption.md): the
 * keys that seal stored values, one `ID:KEY` per line, newest last.
 *
 *   # gputel encryption keys: ID:KEY, newest last
 *   2026-01:4f1c…(64 hex digits)
 *   2026-07:q83v…(base64 of 32 bytes)
 *
 * New writes use the newest (last) key; every listed key opens what it
 * sealed, so a key stays in the file until nothing sealed with it is stored.
 * A file that is not exactly this is refused with the file and line: a typo
 * must never start a process with encryption silently off or with a key that
 * differs from the other processes'.
 */
import { randomBytes, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { GputelError, errorMessage } from '../common/gputel-error.js';

/** AES-256: a key is 32 bytes. */
export const ENCRYPTION_KEY_BYTES = 32;
/** A key id is stored in every sealed value's header (one length byte), so it stays short. */
export const MAX_KEY_ID_CHARS = 64;
const KEY_ID = /^[A-Za-z0-9._-]+$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/** Standard or URL-safe base64 of 32 bytes: 43 characters, with or without the one '=' of padding. */
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

export interface EncryptionKey {
  id: string;
  key: KeyObject;
}

/** The keys of one file, in file order; `newest` (the last) seals new writes. */
export interface EncryptionKeyRing {
  /** The file they came from, for messages. */
  file: string;
  keys: ReadonlyMap<string, KeyObject>;
  newest: EncryptionKey;
  /** Things an operator should fix that do not stop a start (a key file others can read). */
  warnings: string[];
}

/**
 * Reads and checks the key file. Throws BAD_CONFIG naming the file (and the
 * line) when it cannot be read, holds no key, or has a line that is not a
 * comment, blank, or `ID:KEY` with a unique id and a 32-byte key.
 */
export function loadEncryptionKeyFile(file: string): EncryptionKeyRing {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode;
  } catch (error) {
    throw new GputelError(
      'BAD_CONFIG',
      `encryption key file ${file} cannot be read (${errorMessage(error)}): give the path of a file of ID:KEY lines, made with \`gputel encryption-key generate\``,
      { cause: error },
    );
  }
  const ring = parseEncryptionKeys(text, file);
  // Group or others may read it: the key then protects nothing from them.
  if ((mode & 0o077) !== 0) ring.warnings.push(`encryption key file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 ${file}`);
  return ring;
}

/** Parses key file text (see the file's header); `file` names it in errors. Throws BAD_CONFIG. */
export function parseEncryptionKeys(text: string, file: string): EncryptionKeyRing {
  const keys = new Map<string, KeyObject>();
  let newest: EncryptionKey | undefined;
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `encryption key file ${file} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new GputelError('BAD_CONFIG', `${where} is not ID:KEY (no ':'); each line holds a key id, ':', and 32 random bytes in hex or base64 (\`gputel encryption-key generate\` prints one)`);
    const id = line.slice(0, colon).trim();
    const encoded = line.slice(colon + 1).trim();
    if (!KEY_ID.test(id) || id.length > MAX_KEY_ID_CHARS) {
      throw new GputelError('BAD_CONFIG', `${where}: key id ${JSON.stringify(id.slice(0, 80))} must be 1-${MAX_KEY_ID_CHARS} letters, digits, '.', '_' or '-'`);
    }
    if (keys.has(id)) throw new GputelError('BAD_CONFIG', `${where}: key id "${id}" is listed twice; every key needs its own id (values name the key that sealed them)`);
    const bytes = decodeKey(encoded);
    if (bytes === undefined) {
      throw new GputelError(
        'BAD_CONFIG',
        `${where}: the key of "${id}" is not ${ENCRYPTION_KEY_BYTES} bytes in hex (64 digits) or base64 (44 characters); make one with \`gputel encryption-key generate\` or \`openssl rand -hex 32\``,
      );
    }
    const key = createSecretKey(bytes);
    bytes.fill(0);
    keys.set(id, key);
    newest = { id, key };
  }
  if (newest === undefined) {
    throw new GputelError('BAD_CONFIG', `encryption key file ${file} holds no key: add a line ID:KEY (\`gputel encryption-key generate >> ${file}\`), or leave --encryption-key-file unset to store values unsealed`);
  }
  return { file, keys, newest, warnings: [] };
}

function decodeKey(encoded: string): Buffer | undefined {
  if (HEX_KEY.test(encoded)) return Buffer.from(encoded, 'hex');
  if (!BASE64_KEY.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === ENCRYPTION_KEY_BYTES ? bytes : undefined;
}

/** A new key file line: `ID:64 hex digits` of fresh random bytes. The id defaults to today's date and time (UTC). */
export function generateEncryptionKeyLine(id = defaultKeyId(new Date())): string {
  if (!KEY_ID.test(id) || id.length > MAX_KEY_ID_CHARS) {
    throw new GputelError('BAD_REQUEST', `key id ${JSON.stringify(id.slice(0, 80))} must be 1-${MAX_KEY_ID_CHARS} letters, digits, '.', '_' or '-'`);
  }
  return `${id}:${randomBytes(ENCRYPTION_KEY_BYTES).toString('hex')}`;
}

/** e.g. `k20260714-093012`: sortable, and unique unless two keys are made in one second. */
function defaultKeyId(now: Date): string {
  const iso = now.toISOString();
  return `k${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}
