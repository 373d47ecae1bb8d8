/**
 * openKvStore with encryption checks the key file against the store before
 * anything is written: the first use of a key id as the newest records a
 * check value; a different key under a known id, a file that shares no key
 * with the store, or a keyless process is refused with STORE_KEY and writes
 * nothing; a bad key file is refused before any connection. Both drivers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GputelError } from '../../src/common/gputel-error.js';
import type { Logger } from '../../src/common/logger.js';
import { generateEncryptionKeyLine } from '../../src/kv/encryption-key-file.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore, type OpenKvStoreConfig } from '../../src/kv/open-kv-store.js';
import { isSealedValue, sealedKeyId } from '../../src/kv/value-sealer.js';
import { gputelError } from '../support/gputel-error-check.js';
import { useEtcdStore } from '../support/etcd-store.js';

const dir = mkdtempSync(join(tmpdir(), 'gputel-key-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileNumber = 0;
function keyFile(lines: string[]): string {
  const file = join(dir, `keys-${++fileNumber}`);
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return file;
}

function capturingLogger(warnings: string[]): Logger {
  return { warn: (message: string) => warnings.push(message), info: () => undefined } as unknown as Logger;
}


function keyCheckSuite(driver: string, location: () => OpenKvStoreConfig, raw: () => Promise<KvStore>, releaseRaw: (store: KvStore) => Promise<void>): void {
  it(`records, verifies and refuses key files against the store (${driver})`, async () => {
    const root = `/key-check-${driver}`;
    const keys = new KeySpace(root);
    const a = generateEncryptionKeyLine('a');
    const b = generateEncryptionKeyLine('b');
    const open = async (keyFile: string | undefined, logger?: Logger): Promise<void> => {
      const store = await openKvStore({ ...location(), encryption: { root, keyFile, logger } });
      await store.close();
    };

    await open(keyFile([a]));
    await open(keyFile([a, b]));
    let bare = await raw();
    const checks = (await bare.range({ prefix: keys.encryptionKeyChecksPrefix() })).kvs;
    assert.deepEqual(checks.map((kv) => kv.key), [keys.encryptionKeyCheck('a'), keys.encryptionKeyCheck('b')]);
    for (const kv of checks) assert.ok(isSealedValue(kv.value) && sealedKeyId(kv.value) === kv.key.slice(-1));
    const revision = await bare.revision();
    await releaseRaw(bare);

    await assert.rejects(open(keyFile([a, generateEncryptionKeyLine('b')])), gputelError('STORE_KEY', /encryption key "b" of \S+ is not the key "b" that sealed this store's data/));
    await assert.rejects(open(undefined), gputelError('STORE_KEY', new RegExp(`the data under ${root} is sealed \\(encryption keys "a", "b"\\), and this process has no --encryption-key-file`)));
    const warnings: string[] = [];
    await open(keyFile([b]), capturingLogger(warnings));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /holds data sealed with encryption key\(s\) "a", which \S+ does not list/);
    // A file that shares no key with the store, and one whose known key differs ahead of a new newest key: refused, and neither new key recorded.
    await assert.rejects(
      open(keyFile([generateEncryptionKeyLine('other')])),
      gputelError('STORE_KEY', new RegExp(`the data under ${root} is sealed with encryption key\\(s\\) "a", "b", and \\S+ holds none of them \\(it holds "other"\\).*append its line to that file`)),
    );
    await assert.rejects(open(keyFile([generateEncryptionKeyLine('a'), generateEncryptionKeyLine('z')])), gputelError('STORE_KEY', /encryption key "a" of \S+ is not the key "a"/));
    // A new key that is not the newest seals nothing, so it is recorded nowhere (yet).
    await open(keyFile([generateEncryptionKeyLine('x'), b]));
    bare = await raw();
    assert.equal(await bare.revision(), revision, 'refused and checked opens wrote nothing');
    await releaseRaw(bare);
    // A rotation key appended to a file that holds a known one: recorded, once it is the newest.
    await open(keyFile([a, b, generateEncryptionKeyLine('c')]));
    bare = await raw();
    const after = (await bare.range({ prefix: keys.encryptionKeyChecksPrefix() })).kvs.map((kv) => kv.key);
    assert.deepEqual(after, ['a', 'b', 'c'].map((id) => keys.encryptionKeyCheck(id)));
    await releaseRaw(bare);
    // Another root knows nothing of these keys: a keyless process opens it.
    await (await openKvStore({ ...location(), encryption: { root: `${root}-other` } })).close();
  });
}

describe('encryption key check', { timeout: 30_000 }, () => {
  describe('embedded driver', () => {
    const dataDir = join(dir, 'embedded');
    keyCheckSuite(
      'embedded',
      () => ({ dataDir }),
      () => openKvStore({ dataDir }),
      (store) => store.close(),
    );
  });

  describe('etcd driver', () => {
    const etcd = useEtcdStore();
    keyCheckSuite(
      'etcd',
      () => ({ endpoints: etcd.etcd.endpoints }),
      async () => etcd.store,
      async () => undefined,
    );
  });

  it('refuses a bad key file before connecting to the store', async () => {
    const bad = keyFile(['a:not-a-key']);
    await assert.rejects(
      openKvStore({ endpoints: ['http://127.0.0.1:9'], dialTimeoutMs: 200, encryption: { root: '/x', keyFile: bad } }),
      (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && /line 1/.test(error.message),
    );
  });
});
