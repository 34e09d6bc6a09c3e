import { SlimlmError } from '@slimlm/core';

/** Bit widths GPTQ checkpoints pack. */
export type Bits = 2 | 3 | 4 | 8;

/** What the qzeros words of a checkpoint mean: v1 stores z - 1, v2 stores z (FORMATS.md). */
export type GptqFormat = 'gptq' | 'gptq_v2';

export const SUPPORTED_BITS: readonly Bits[] = [2, 3, 4, 8];

/*
 * Every width packs the same way: the codes of one column (qweight) or one group row (qzeros) form
 * a little-endian bit stream, code i at stream bit b*i, stream bit s in word floor(s / 32) at bit
 * s % 32. For 2/4/8 bits no code straddles a word (32/b codes per word, lowest bits first); for
 * 3 bits, 32 codes fill 3 words and codes 10 and 21 straddle them exactly as FORMATS.md lays out.
 */

function invalid(message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', message);
}

export function assertBits(op: string, bits: number): asserts bits is Bits {
  if (!(SUPPORTED_BITS as readonly number[]).includes(bits)) {
    throw invalid(`${op}: bits must be 2, 3, 4 or 8, got ${bits}`);
  }
}

/** Whether `count` codes of `bits` fill whole int32 words (3-bit needs multiples of 32). */
function checkPackedLength(op: string, what: string, count: number, bits: Bits): number {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw invalid(`${op}: ${what} must be a non-negative integer, got ${count}`);
  }
  if ((count * bits) % 32 !== 0) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${what} = ${count} codes of ${bits} bits do not fill whole int32 words (${what} * ${bits} must be a multiple of 32${bits === 3 ? ', so a multiple of 32 at 3 bits' : ''})`,
    );
  }
  return (count * bits) / 32;
}

function checkLength(op: string, name: string, actual: number, expected: number, shape: string) {
  if (actual !== expected) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${name} has ${actual} elements, expected ${expected} (${shape})`,
    );
  }
}

/**
 * Whether a Linear with K inputs and N outputs can be stored in GPTQ tensors that AutoGPTQ and
 * GPTQModel read: both size qweight as [K / 32 * b, N] and qzeros as [G, N / 32 * b], so K and N
 * must be multiples of 32 at every width.
 */
export function isPackable(inFeatures: number, outFeatures: number): boolean {
  return inFeatures > 0 && outFeatures > 0 && inFeatures % 32 === 0 && outFeatures % 32 === 0;
}

/**
 * Packs codes [K, N] (row-major; input channel k, output channel n) along K into qweight words
 * [K*bits/32, N]. Codes must lie in [0, 2^bits - 1].
 */
export function packRows(
  codes: Int32Array | Uint8Array,
  K: number,
  N: number,
  bits: Bits,
): Int32Array {
  const op = 'packRows';
  assertBits(op, bits);
  const rows = checkPackedLength(op, 'K', K, bits);
  checkLength(op, 'codes', codes.length, K * N, `[K, N] = [${K}, ${N}]`);
  const mask = (1 << bits) - 1;
  const words = new Int32Array(rows * N);
  for (let k = 0; k < K; k++) {
    const bit = k * bits;
    const word = bit >>> 5;
    const offset = bit & 31;
    const spill = offset + bits > 32;
    const base = word * N;
    const source = k * N;
    for (let n = 0; n < N; n++) {
      const code = codes[source + n]!;
      if ((code & ~mask) !== 0) throw badCode(op, code, bits, `[${k}, ${n}]`);
      words[base + n]! |= code << offset;
      if (spill) words[base + N + n]! |= code >>> (32 - offset);
    }
  }
  return words;
}

/** Unpacks qweight words [K*bits/32, N] into codes [K, N] (row-major). */
export function unpackRows(words: Int32Array, K: number, N: number, bits: Bits): Uint8Array {
  const op = 'unpackRows';
  assertBits(op, bits);
  const rows = checkPackedLength(op, 'K', K, bits);
  checkLength(op, 'words', words.length, rows * N, `[K*bits/32, N] = [${rows}, ${N}]`);
  const mask = (1 << bits) - 1;
  const codes = new Uint8Array(K * N);
  for (let k = 0; k < K; k++) {
    const bit = k * bits;
    const word = bit >>> 5;
    const offset = bit & 31;
    const spill = offset + bits > 32;
    const base = word * N;
    const target = k * N;
    for (let n = 0; n < N; n++) {
      let value = words[base + n]! >>> offset;
      if (spill) value |= words[base + N + n]! << (32 - offset);
      codes[target + n] = value & mask;
    }
  }
  return codes;
}

/**
 * Packs codes [G, N] (one row of zero points per group) along N into qzeros words
 * [G, N*bits/32]. Codes must lie in [0, 2^bits - 1].
 */
export function packColumns(
  codes: Int32Array | Uint8Array,
  G: number,
  N: number,
  bits: Bits,
): Int32Array {
  const op = 'packColumns';
  assertBits(op, bits);
  const columns = checkPackedLength(op, 'N', N, bits);
  if (!Number.isSafeInteger(G) || G < 0) throw invalid(`${op}: G must be a non-negative integer`);
  checkLength(op, 'codes', codes.length, G * N, `[G, N] = [${G}, ${N}]`);
  const mask = (1 << bits) - 1;
  const words = new Int32Array(G * columns);
  for (let g = 0; g < G; g++) {
    const base = g * columns;
    const source = g * N;
    for (let n = 0; n < N; n++) {
      const code = codes[source + n]!;
      if ((code & ~mask) !== 0) throw badCode(op, code, bits, `[${g}, ${n}]`);
      const bit = n * bits;
      const word = base + (bit >>> 5);
      const offset = bit & 31;
      words[word]! |= code << offset;
      if (offset + bits > 32) words[word + 1]! |= code >>> (32 - offset);
    }
  }
  return words;
}

/** Unpacks qzeros words [G, N*bits/32] into codes [G, N] (row-major). */
export function unpackColumns(words: Int32Array, G: number, N: number, bits: Bits): Uint8Array {
  const op = 'unpackColumns';
  assertBits(op, bits);
  const columns = checkPackedLength(op, 'N', N, bits);
  if (!Number.isSafeInteger(G) || G < 0) throw invalid(`${op}: G must be a non-negative integer`);
  checkLength(op, 'words', words.length, G * columns, `[G, N*bits/32] = [${G}, ${columns}]`);
  const mask = (1 << bits) - 1;
  const codes = new Uint8Array(G * N);
  for (let g = 0; g < G; g++) {
    const base = g * columns;
    const target = g * N;
    for (let n = 0; n < N; n++) {
      const bit = n * bits;
      const word = base + (bit >>> 5);
      const offset = bit & 31;
      let value = words[word]! >>> offset;
      if (offset + bits > 32) value |= words[word + 1]! << (32 - offset);
      codes[target + n] = value & mask;
    }
  }
  return codes;
}

function badCode(op: string, code: number, bits: Bits, at: string): SlimlmError {
  return invalid(
    `${op}: code ${code} at ${at} does not fit in ${bits} bits (0 to ${(1 << bits) - 1})`,
  );
}
