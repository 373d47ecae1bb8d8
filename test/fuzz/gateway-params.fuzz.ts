/**
 * Fuzz target: the gateway's time, step and cursor parameters. Contract
 * under fuzz: any text gives a value inside the documented range or
 * GputelError BAD_REQUEST (a 400 naming the parameter), never a 500; what
 * the API writes back (formatted times, cursors it gave out) reads back the
 * same.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_STEP_MS, parseStepParam } from '../../src/gateway/step-param.js';
import { decodeTelemetryCursor, encodeTelemetryCursor } from '../../src/gateway/telemetry-cursor.js';
import { formatTime, MAX_TIME_MS, parseTimeParam } from '../../src/gateway/time-param.js';
import { fuzzProperty, resultOrTypedError, type FuzzTarget } from './fuzz-target.js';
import { anyText, longRun, tokenText } from './hostile-text.js';

const NOW_MS = Date.UTC(2026, 2, 2, 9, 15, 0);
/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the times RFC 3339 can write. */
const RFC_3339_FIRST_MS = -62_167_219_200_000;
const RFC_3339_LAST_MS = 253_402_300_799_999;

const TIME_TOKENS = ['now', '-', '+', '15', '9', '0', 'ms', 's', 'm', 'h', 'd', 'w', '2026', '-03-02', 'T', 't', ' ', '09:15:00', '.123', 'Z', 'z', '+02:00', '-', '99999999999999999999', 'e3', '.', ':'];
const timeText = fc.oneof(
  tokenText(TIME_TOKENS, 8),
  anyText(40),
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }).map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.tuple(fc.constantFrom('+', '-'), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w')).map(([sign, n, unit]) => `now${sign}${n}${unit}`),
  longRun(fc.constantFrom('', '9', '0', '-', ' ', 'now', 'T', ':'), 8_192),
);
const STEP_TOKENS = ['0', '1', '5', '9', '366', '367', '1000', 'ms', 's', 'm', 'h', 'd', 'w', ' ', '-', '.', 'e'];
const stepText = fc.oneof(tokenText(STEP_TOKENS, 6), anyText(20), fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 16n }), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w', '')).map(([n, unit]) => `${n}${unit}`));

/** Cursors of every kind: any text, base64url of any JSON, and of near-cursor arrays. */
const cursorText = fc.oneof(
  anyText(60),
  fc.json({ maxDepth: 2 }).map((json) => Buffer.from(json).toString('base64url')),
  fc
    .tuple(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 53, -(2 ** 60), 1e300)), fc.oneof(fc.string(), fc.integer()), fc.string(), fc.option(fc.oneof(fc.integer(), fc.double(), fc.string()), { nil: undefined }))
    .map((fields) => Buffer.from(JSON.stringify(fields.filter((f) => f !== undefined))).toString('base64url')),
);

export const gatewayParamsTarget: FuzzTarget = {
  name: 'gateway-params',
  properties: [
    fuzzProperty('a time parameter is a whole ms inside the Date range, or BAD_REQUEST', timeText, (text) => {
      const ms = resultOrTypedError(() => parseTimeParam(text, 'start_time', NOW_MS), ['BAD_REQUEST']);
      if (ms === undefined) return;
      assert.ok(Number.isSafeInteger(ms) && Math.abs(ms) <= MAX_TIME_MS, `${JSON.stringify(text)} → ${ms}`);
      // RFC 3339 has four-digit years: a time past them is written with six (+010000-…) and is read back from its epoch ms.
      if (ms >= RFC_3339_FIRST_MS && ms <= RFC_3339_LAST_MS) assert.ok(parseTimeParam(formatTime(ms), 'start_time', NOW_MS) === ms, 'a time the API writes reads back the same'); // === : "-0" is time 0
    }),
    fuzzProperty('a step parameter is a whole ms from 1 ms to 366 d, or BAD_REQUEST', stepText, (text) => {
      const stepMs = resultOrTypedError(() => parseStepParam(text), ['BAD_REQUEST']);
      if (stepMs !== undefined) assert.ok(Number.isSafeInteger(stepMs) && stepMs >= 1 && stepMs <= MAX_STEP_MS, `${JSON.stringify(text)} → ${stepMs}`);
    }),
    fuzzProperty('a cursor is one this API can have given out, or BAD_REQUEST', cursorText, (text) => {
      const cursor = resultOrTypedError(() => decodeTelemetryCursor(text), ['BAD_REQUEST']);
      if (cursor === undefined) return;
      assert.ok(Number.isSafeInteger(cursor.afterMs) && Math.abs(cursor.afterMs) <= MAX_TIME_MS, `afterMs ${cursor.afterMs}`);
      assert.equal(typeof cursor.hostname, 'string');
      assert.equal(typeof cursor.gpuKey, 'string');
      if (cursor.stepMs !== undefined) assert.ok(Number.isSafeInteger(cursor.stepMs) && cursor.stepMs >= 1);
    }),
    fuzzProperty('every cursor the API gives out reads back the same', fc.integer({ min: 0, max: 10 ** 13 - 1 }), anyText(30), anyText(30), fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }), (lastMs, hostname, gpuKey, stepMs) => {
      // JSON writes a lone surrogate as \ud800, which reads back as the same code unit.
      const cursor = decodeTelemetryCursor(encodeTelemetryCursor({ hostname, gpuKey }, lastMs, stepMs));
      assert.deepEqual(cursor, { afterMs: lastMs, hostname, gpuKey, stepMs });
    }),
  ],
};
