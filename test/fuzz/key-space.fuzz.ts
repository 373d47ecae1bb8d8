/**
 * Fuzz target: the key space (src/kv/key-space.ts), the one builder of every
 * key. Contract under fuzz, for every builder method and any names, numbers
 * and message ids: the answer is GputelError BAD_KEY or a key of printable
 * ASCII that keeps its method's shape (no input adds, removes or replaces a
 * level: every key stays inside its subtree), lies under its parent prefix,
 * holds each name as one segment that unescapes back to it, and differs
 * from the key of any other inputs.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeySpace, unescapeSegment } from '../../src/kv/key-space.js';
import { fuzzProperty, resultOrTypedError, type FuzzTarget } from './fuzz-target.js';
import { anyText } from './hostile-text.js';

type ArgKind = 'name' | 'partition' | 'time' | 'messageId';
type Arg = string | number;

interface KeyMethod {
  name: keyof KeySpace & string;
  args: readonly ArgKind[];
  /** The prefix method the key must lie under, with the indexes of the arguments it takes. */
  parent?: readonly [keyof KeySpace & string, readonly number[]];
}

const N = 'name';
const P = 'partition';
const T = 'time';
const M = 'messageId';

const METHODS: readonly KeyMethod[] = [
  { name: 'topicPrefix', args: [N] },
  { name: 'topicConfig', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'partitionPrefix', args: [N, P], parent: ['topicPrefix', [0]] },
  { name: 'message', args: [N, P, M], parent: ['partitionPrefix', [0, 1]] },
  { name: 'membersPrefix', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'member', args: [N, N], parent: ['membersPrefix', [0]] },
  { name: 'ownersPrefix', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'owner', args: [N, P], parent: ['ownersPrefix', [0]] },
  { name: 'deadLetter', args: [N, M], parent: ['deadLetterPrefix', [0]] },
  { name: 'deadLetterPrefix', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'checkpointsPrefix', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'checkpoint', args: [N, N], parent: ['checkpointsPrefix', [0]] },
  { name: 'sourceClaimsPrefix', args: [N], parent: ['topicPrefix', [0]] },
  { name: 'sourceClaim', args: [N, N], parent: ['sourceClaimsPrefix', [0]] },
  { name: 'maintenancePrefix', args: [] },
  { name: 'historyCompactorLeader', args: [], parent: ['maintenancePrefix', []] },
  { name: 'historyCompactionMark', args: [], parent: ['maintenancePrefix', []] },
  { name: 'encryptionKeyChecksPrefix', args: [] },
  { name: 'encryptionKeyCheck', args: [N], parent: ['encryptionKeyChecksPrefix', []] },
  { name: 'clusterPrefix', args: [N] },
  { name: 'hostsPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'hostPrefix', args: [N, N], parent: ['hostsPrefix', [0]] },
  { name: 'hostMetadata', args: [N, N], parent: ['hostPrefix', [0, 1]] },
  { name: 'gpuPrefix', args: [N, N, N], parent: ['hostPrefix', [0, 1]] },
  { name: 'gpuMetadata', args: [N, N, N], parent: ['gpuPrefix', [0, 1, 2]] },
  { name: 'gpuDataPrefix', args: [N, N, N], parent: ['gpuPrefix', [0, 1, 2]] },
  { name: 'gpuChunk', args: [N, N, N, T, T, M], parent: ['gpuDataPrefix', [0, 1, 2]] },
  { name: 'gpuCompactedChunk', args: [N, N, N, T, T], parent: ['gpuDataPrefix', [0, 1, 2]] },
  { name: 'latestPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'latest', args: [N, N], parent: ['latestPrefix', [0]] },
  { name: 'rollupsPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'rollup', args: [N, N], parent: ['rollupsPrefix', [0]] },
  { name: 'rollupMark', args: [N, N, P, N], parent: ['clusterPrefix', [0]] },
  { name: 'gpuIndexPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'gpuIndex', args: [N, N, N], parent: ['gpuIndexPrefix', [0]] },
  { name: 'statsPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'partitionStats', args: [N, N, P], parent: ['statsPrefix', [0]] },
  { name: 'configPrefix', args: [N], parent: ['clusterPrefix', [0]] },
  { name: 'liveSettingsPrefix', args: [N], parent: ['configPrefix', [0]] },
  { name: 'liveSetting', args: [N, N], parent: ['liveSettingsPrefix', [0]] },
  { name: 'configHistoryPrefix', args: [N], parent: ['configPrefix', [0]] },
  { name: 'configHistoryEntry', args: [N, T, N], parent: ['configHistoryPrefix', [0]] },
  { name: 'clusterTopic', args: [N], parent: ['configPrefix', [0]] },
];

/** Names made of few characters, so that near-collisions (`a-` + `0001` against `a-0` + `001`, `%2F` against `/`) come up often. */
const nearName = fc.string({ maxLength: 6, unit: fc.constantFrom('a', '-', '0', '1', '%', '2', 'F', '/', '.', ':', '~', '\u00e9', ' ') });
const hostileName = fc.oneof(nearName, anyText(40), fc.constantFrom('.', '..', '', 'x'.repeat(256), 'x'.repeat(257), '%', '%zz', '../../queue'));
const partition = fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: -20_000, max: 20_000 }), fc.constantFrom(-0, 1.5, Number.NaN, Infinity, 2 ** 53));
const time = fc.oneof(fc.integer({ min: 0, max: 10 ** 13 - 1 }), fc.constantFrom(-1, 10 ** 13, 1.5, Number.NaN, -Infinity, 2 ** 60));
const messageId = fc.oneof(fc.stringMatching(/^\d{13}-[0-9a-f]{8}-\d{12}$/), fc.constantFrom('~compacted', 'a/b', '../x', '..', 'a b', 'x'.repeat(201), ''), nearName, anyText(20));
const ARG_ARBITRARIES: Record<ArgKind, fc.Arbitrary<Arg>> = { name: hostileName, partition, time, messageId };

/** Harmless arguments, each name different, that show a method's shape. */
function benignArgs(kinds: readonly ArgKind[]): Arg[] {
  return kinds.map((kind, i) => (kind === 'name' ? `Benign${i}` : kind === 'partition' ? 7 : kind === 'time' ? 1_000 + i : `0001700000000000-abcd-00000000000${i}`));
}

function call(keys: KeySpace, method: string, args: readonly Arg[]): string {
  return (keys[method as keyof KeySpace] as (...a: readonly Arg[]) => string)(...args);
}

const methodWithArgs = fc.constantFrom(...METHODS).chain((method) => fc.tuple(fc.constant(method), fc.tuple(...method.args.map((kind) => ARG_ARBITRARIES[kind]))));
const methodWithTwoArgs = fc
  .constantFrom(...METHODS.filter((m) => m.args.length > 0))
  .chain((method) => fc.tuple(fc.constant(method), fc.tuple(...method.args.map((kind) => ARG_ARBITRARIES[kind])), fc.tuple(...method.args.map((kind) => ARG_ARBITRARIES[kind]))));

const keys = new KeySpace('/gputel');

/** Checks a key built from `args`; returns it, or undefined after BAD_KEY. */
function checkedKey(method: KeyMethod, args: readonly Arg[]): string | undefined {
  const key = resultOrTypedError(() => call(keys, method.name, args), ['BAD_KEY']);
  if (key === undefined) return undefined;
  assert.match(key, /^[\x21-\x7e]+$/, 'printable ASCII only');
  assert.ok(key.startsWith(`${keys.root}/`));
  const shape = call(keys, method.name, benignArgs(method.args)).split('/');
  const segments = key.split('/');
  assert.equal(segments.length, shape.length, `${method.name}: ${key} has another shape than ${shape.join('/')}`);
  shape.forEach((benign, i) => {
    const argIndex = /^Benign(\d+)$/.exec(benign);
    if (argIndex !== null) assert.equal(unescapeSegment(segments[i]), args[Number(argIndex[1])], `segment ${i} holds its name`);
    else if (!/Benign|\d/.test(benign)) assert.equal(segments[i], benign, `fixed segment ${i} of ${method.name}`);
  });
  if (method.parent !== undefined) {
    const [parentName, indexes] = method.parent;
    const parent = call(keys, parentName, indexes.map((i) => args[i]));
    assert.ok(key.startsWith(parent), `${key} is not under ${parent}`);
  }
  return key;
}

function sameArgs(a: readonly Arg[], b: readonly Arg[]): boolean {
  // -0 and 0 are one partition and one time.
  return a.every((value, i) => value === b[i] || (Number.isNaN(value) && Number.isNaN(b[i])));
}

export const keySpaceTarget: FuzzTarget = {
  name: 'key-space',
  properties: [
    fuzzProperty('every key is BAD_KEY or printable, of its method\'s shape, under its parent, each name one segment', methodWithArgs, ([method, args]) => {
      checkedKey(method, args);
    }),
    fuzzProperty('different inputs never give the same key', methodWithTwoArgs, ([method, a, b]) => {
      const first = checkedKey(method, a);
      const second = checkedKey(method, b);
      if (first !== undefined && second !== undefined && !sameArgs(a, b)) assert.notEqual(first, second, `${method.name}(${JSON.stringify(a)}) and (${JSON.stringify(b)})`);
    }),
    fuzzProperty('a root prefix is BAD_CONFIG or stays one plain path', anyText(30), (root) => {
      const space = resultOrTypedError(() => new KeySpace(root), ['BAD_CONFIG']);
      if (space !== undefined) assert.match(space.clusterPrefix('c'), /^\/[A-Za-z0-9._/-]*\/clusters\/c\/$/);
    }),
  ],
};
