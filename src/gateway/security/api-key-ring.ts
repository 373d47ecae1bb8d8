/**
 * The gateway's API keys (docs/security.md): who may call it, and with which
 * role. Keys come from `--api-keys-file` and/or `--api-keys` (GPUTEL_API_KEYS),
 * one line per key, comments and blank lines allowed:
 *
 *   # NAME:ROLE:sha256:HASH
 *   grafana:read:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *
 * Only the SHA-256 of each key is stored. A key is 32 random bytes (256 bits),
 * so nobody can search the key space from a leaked hash: a slow KDF (bcrypt,
 * scrypt) protects low-entropy passwords, and would only add milliseconds to
 * every request here. A presented key is hashed and compared with EVERY
 * stored hash with `timingSafeEqual`, never stopping at the first match, so
 * the time taken says nothing about which hash, or how much of one, matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GputelError, errorMessage } from '../../common/gputel-error.js';

/** read: every query (REST, GraphQL, WebSocket, /metrics, docs); ingest: push ingest only; admin: everything. */
export const API_KEY_ROLES = ['read', 'ingest', 'admin'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** The one hash algorithm of a key line, named in it so another can be added without ambiguity. */
const HASH_ALGORITHM = 'sha256';
const KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const HEX_HASH = /^[0-9a-f]{64}$/;
/** A key is this prefix and base64url of 32 random bytes; the prefix makes a leaked key easy to recognise (secret scanners). */
export const API_KEY_PREFIX = 'gputel_';
const API_KEY_BYTES = 32;

/** The identity of an authenticated caller: the key's name (never the key) and its role. */
export interface ApiKeyIdentity {
  name: string;
  role: ApiKeyRole;
}

interface StoredKey extends ApiKeyIdentity {
  hash: Buffer;
}

/** Where key lines come from; `what` names it in errors ("API keys file /etc/gputel/keys", "GPUTEL_API_KEYS"). */
export interface ApiKeySource {
  what: string;
  text: string;
}

export class ApiKeyRing {
  private constructor(private keys: readonly StoredKey[]) {}

  /** A ring with no keys: authentication is off. */
  static empty(): ApiKeyRing {
    return new ApiKeyRing([]);
  }

  /**
   * Parses the lines of every source into one ring. Throws BAD_CONFIG naming
   * the source and line of the first line that is not a comment, blank, or
   * `NAME:ROLE:sha256:HASH` with a unique name and hash.
   */
  static parse(sources: ApiKeySource[]): ApiKeyRing {
    const keys: StoredKey[] = [];
    const names = new Map<string, string>();
    const hashes = new Map<string, string>();
    for (const source of sources) {
      const lines = source.text.split(/\r?\n/);
      for (let index = 0; index < lines.length; index++) {
        const line = lines[index].trim();
        if (line === '' || line.startsWith('#')) continue;
        const where = `${source.what} line ${index + 1}`;
        const key = parseKeyLine(line, where);
        const sameName = names.get(key.name);
        if (sameName !== undefined) throw new GputelError('BAD_CONFIG', `${where}: key name "${key.name}" is already used at ${sameName}; every key needs its own name (logs and rate limits use it)`);
        const hex = key.hash.toString('hex');
        const sameHash = hashes.get(hex);
        if (sameHash !== undefined) throw new GputelError('BAD_CONFIG', `${where}: this hash is already listed at ${sameHash} (one key, two lines): remove one`);
        names.set(key.name, where);
        hashes.set(hex, where);
        keys.push(key);
      }
    }
    return new ApiKeyRing(keys);
  }

  /**
   * The ring of the configured sources: the file (read here; BAD_CONFIG
   * naming it when it cannot be read) and the inline lines, in that order.
   * Both unset or blank: an empty ring.
   */
  static load(options: { file?: string; inline?: string }): ApiKeyRing {
    const sources: ApiKeySource[] = [];
    if (options.file !== undefined && options.file !== '') {
      let text: string;
      try {
        text = readFileSync(options.file, 'utf8');
      } catch (error) {
        throw new GputelError('BAD_CONFIG', `API keys file ${options.file} cannot be read (${errorMessage(error)}): give a file of NAME:ROLE:sha256:HASH lines (\`gputel keys create\` prints them)`, { cause: error });
      }
      sources.push({ what: `API keys file ${options.file}`, text });
    }
    // Inline lines may also be separated by ';' (one environment variable, one line).
    if (options.inline !== undefined && options.inline.trim() !== '') sources.push({ what: '--api-keys / GPUTEL_API_KEYS', text: options.inline.replace(/;/g, '\n') });
    const ring = ApiKeyRing.parse(sources);
    if (sources.length > 0 && ring.size === 0) {
      throw new GputelError('BAD_CONFIG', `${sources.map((s) => s.what).join(' and ')} hold no key: add a line made by \`gputel keys create --role read\`, or leave the setting unset to run without keys`);
    }
    return ring;
  }

  /**
   * Takes the keys of `other` in place of these (a reload on SIGHUP): the
   * gateway holds this ring, so the next request sees the new keys. A ring
   * with keys never becomes empty this way (that would turn authentication off).
   */
  replaceWith(other: ApiKeyRing): void {
    if (this.keys.length > 0 && other.keys.length === 0) throw new GputelError('BAD_CONFIG', 'the reloaded keys hold no key; the current keys stay (an empty keys file would turn authentication off)');
    this.keys = other.keys;
  }

  get size(): number {
    return this.keys.length;
  }

  /** The names and roles of the keys, for start-up logs. */
  describe(): ApiKeyIdentity[] {
    return this.keys.map(({ name, role }) => ({ name, role }));
  }

  /** The identity whose hash matches `presented`, or undefined. Takes the same time whichever key (if any) matches. */
  identify(presented: string): ApiKeyIdentity | undefined {
    const hash = hashApiKey(presented);
    let found: StoredKey | undefined;
    for (const key of this.keys) {
      // No early exit: every stored hash is compared.
      if (timingSafeEqual(hash, key.hash) && found === undefined) found = key;
    }
    return found === undefined ? undefined : { name: found.name, role: found.role };
  }
}

/** Whether `role` may call what needs `required`: admin may call everything, the others only their own. */
export function roleAllows(role: ApiKeyRole, required: ApiKeyRole): boolean {
  return role === 'admin' || role === required;
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * A new key and the line that lets it in: the key is shown once (only its
 * hash is kept). `name` defaults to the role and the UTC time. Throws
 * BAD_REQUEST for a bad name or role.
 */
export function createApiKey(role: string, name = `${role}-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`): { key: string; line: string } {
  if (!isRole(role)) throw new GputelError('BAD_REQUEST', `role "${role}" is not one of ${API_KEY_ROLES.join(', ')}`);
  if (!KEY_NAME.test(name)) throw new GputelError('BAD_REQUEST', `key name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, '.', '_' or '-'`);
  const key = API_KEY_PREFIX + randomBytes(API_KEY_BYTES).toString('base64url');
  return { key, line: `${name}:${role}:${HASH_ALGORITHM}:${hashApiKey(key).toString('hex')}` };
}

function isRole(value: string): value is ApiKeyRole {
  return (API_KEY_ROLES as readonly string[]).includes(value);
}

function parseKeyLine(line: string, where: string): StoredKey {
  const parts = line.split(':').map((part) => part.trim());
  if (parts.length !== 4) {
    throw new GputelError('BAD_CONFIG', `${where} is not NAME:ROLE:sha256:HASH (${parts.length} ':'-separated fields); \`gputel keys create --role read\` prints a line to copy`);
  }
  const [name, role, algorithm, hex] = parts;
  if (!KEY_NAME.test(name)) throw new GputelError('BAD_CONFIG', `${where}: key name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, '.', '_' or '-'`);
  if (!isRole(role)) throw new GputelError('BAD_CONFIG', `${where}: role "${role.slice(0, 40)}" of key "${name}" is not one of ${API_KEY_ROLES.join(', ')}`);
  if (algorithm !== HASH_ALGORITHM) throw new GputelError('BAD_CONFIG', `${where}: hash algorithm "${algorithm.slice(0, 40)}" of key "${name}" is not ${HASH_ALGORITHM}`);
  // A raw key pasted where its hash belongs would otherwise be a silent "no such key".
  if (hex.startsWith(API_KEY_PREFIX)) throw new GputelError('BAD_CONFIG', `${where}: key "${name}" lists the key itself, not its hash: keys files hold only hashes; use the "line" that \`gputel keys create\` printed`);
  if (!HEX_HASH.test(hex)) throw new GputelError('BAD_CONFIG', `${where}: the hash of key "${name}" must be 64 lowercase hex digits (the SHA-256 of the key)`);
  return { name, role, hash: Buffer.from(hex, 'hex') };
}
