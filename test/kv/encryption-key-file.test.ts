/**
 * The encryption key file: what it accepts, and that every malformed file is
 * refused with its name and line (never a start with encryption off).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { generateEncryptionKeyLine, loadEncryptionKeyFile, parseEncryptionKeys } from '../../src/kv/encryption-key-file.js';
import { gputelError } from '../support/gputel-error-check.js';

const HEX = 'ab'.repeat(32);


describe('encryption key file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-keyfile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads hex and base64 keys (standard, URL-safe, unpadded), skips comments and blank lines, and takes the last as newest', () => {
    const bytes = randomBytes(32);
    const text = [
      '# gputel keys, newest last',
      '',
      `old:${HEX}`,
      `  std : ${bytes.toString('base64')}  `,
      `url:${bytes.toString('base64url')}`,
      `nopad:${bytes.toString('base64').replace(/=$/, '')}\r`,
      '   # an indented comment',
    ].join('\n');
    const ring = parseEncryptionKeys(text, 'keys.txt');
    assert.deepEqual([...ring.keys.keys()], ['old', 'std', 'url', 'nopad']);
    assert.equal(ring.newest.id, 'nopad');
    assert.deepEqual(ring.keys.get('old')!.export(), Buffer.from(HEX, 'hex'));
    for (const id of ['std', 'url', 'nopad']) assert.deepEqual(ring.keys.get(id)!.export(), bytes, id);
  });

  it('refuses each malformed line with the file and its line number', () => {
    const cases: [string, RegExp][] = [
      [`# c\nno-colon-here`, /keys\.txt line 2 is not ID:KEY/],
      [`bad id:${HEX}`, /keys\.txt line 1: key id "bad id" must be/],
      [`:${HEX}`, /keys\.txt line 1: key id "" must be/],
      [`${'x'.repeat(65)}:${HEX}`, /line 1: key id .* must be 1-64/],
      [`a:${HEX}\nb:${HEX}\na:${HEX}`, /keys\.txt line 3: key id "a" is listed twice/],
      [`short:${'ab'.repeat(31)}`, /line 1: the key of "short" is not 32 bytes/],
      [`long:${'ab'.repeat(33)}`, /line 1: the key of "long" is not 32 bytes/],
      [`b64short:${randomBytes(31).toString('base64')}`, /line 1: the key of "b64short" is not 32 bytes/],
      [`garbage:${'!'.repeat(44)}`, /line 1: the key of "garbage" is not 32 bytes/],
      [`notpassword:correct horse battery staple`, /line 1: the key of "notpassword" is not 32 bytes/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => parseEncryptionKeys(text, 'keys.txt'), gputelError('BAD_CONFIG', pattern), text);
  });

  it('refuses a file with no key rather than running unsealed', () => {
    assert.throws(() => parseEncryptionKeys('# nothing yet\n\n', 'keys.txt'), gputelError('BAD_CONFIG', /keys\.txt holds no key/));
    assert.throws(() => parseEncryptionKeys('', 'keys.txt'), gputelError('BAD_CONFIG', /holds no key/));
  });

  it('refuses a file it cannot read, naming it', () => {
    const missing = join(dir, 'missing.keys');
    assert.throws(() => loadEncryptionKeyFile(missing), gputelError('BAD_CONFIG', new RegExp(`encryption key file ${missing} cannot be read`)));
  });

  it('warns when others may read the file, and not when only its owner may', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `${generateEncryptionKeyLine('one')}\n`);
    chmodSync(file, 0o600);
    assert.deepEqual(loadEncryptionKeyFile(file).warnings, []);
    chmodSync(file, 0o644);
    const [warning] = loadEncryptionKeyFile(file).warnings;
    assert.match(warning, /can be read by other users \(mode 644\): chmod 600/);
  });

  it('is the setting encryption-key-file: off by default, from the flag or GPUTEL_ENCRYPTION_KEY_FILE, never an empty path', () => {
    assert.equal(loadConfig({ env: {} }).encryptionKeyFile, '');
    assert.equal(loadConfig({ env: { GPUTEL_ENCRYPTION_KEY_FILE: '/etc/gputel/keys' } }).encryptionKeyFile, '/etc/gputel/keys');
    assert.equal(loadConfig({ flags: { encryptionKeyFile: '/run/keys' }, env: { GPUTEL_ENCRYPTION_KEY_FILE: '/etc/gputel/keys' } }).encryptionKeyFile, '/run/keys');
    assert.throws(() => loadConfig({ flags: { encryptionKeyFile: '' }, env: {} }), /--encryption-key-file = "": must be the path of a key file/);
  });

  it('generates lines the file accepts, with fresh bytes each time and a valid id', () => {
    const first = generateEncryptionKeyLine('a');
    const second = generateEncryptionKeyLine('b');
    assert.match(first, /^a:[0-9a-f]{64}$/);
    assert.notEqual(first.slice(2), second.slice(2));
    assert.match(generateEncryptionKeyLine(), /^k\d{8}-\d{6}:[0-9a-f]{64}$/);
    assert.equal(parseEncryptionKeys(`${first}\n${second}\n${generateEncryptionKeyLine()}\n`, 'generated').keys.size, 3);
    assert.throws(() => generateEncryptionKeyLine('a:b'), { code: 'BAD_REQUEST' });
  });
});
