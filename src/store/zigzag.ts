/**
 * Zigzag coding: signed integers as unsigned ones, small magnitudes small
 * (0, -1, 1, -2, … → 0, 1, 2, 3, …), so that varints and byte planes of
 * deltas stay short. Arithmetic, not bit operations: it is exact for every
 * integer within ±2^52 (32-bit shifts would stop at ±2^30).
 */

/** The zigzag code of an integer within ±2^52 (-0 codes as 0). */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** The integer of a zigzag code (0..2^53-1). */
export function unzigzag(code: number): number {
  return code % 2 === 0 ? code / 2 : -(code + 1) / 2;
}
