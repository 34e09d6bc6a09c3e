import { SlimlmError } from '@slimlm/core';
import { assertBits, type Bits, type GptqFormat, packColumns, unpackColumns } from './pack';

/**
 * The number a format stores for zero point `z`: v1 ('gptq') stores z - 1, wrapping z = 0 to
 * 2^bits - 1 as the readers' mask expects; v2 ('gptq_v2') stores z.
 */
export function storedZero(z: number, bits: Bits, format: GptqFormat): number {
  const mask = (1 << bits) - 1;
  return format === 'gptq' ? (z - 1) & mask : z & mask;
}

/** The zero point z a stored field means: v1 readers compute (stored + 1) & (2^bits - 1). */
export function zeroFromStored(stored: number, bits: Bits, format: GptqFormat): number {
  const mask = (1 << bits) - 1;
  return format === 'gptq' ? (stored + 1) & mask : stored & mask;
}

/** The zero offset core's quantMatmul/dequantize take: 1 for v1, 0 for v2. */
export function zeroOffsetOf(format: GptqFormat): 0 | 1 {
  return format === 'gptq' ? 1 : 0;
}

/**
 * Packs integer zero points z [G, N] (floats holding integers, as the quantizer returns them) into
 * qzeros words [G, N*bits/32] in `format`.
 */
export function packZeros(
  zeros: Float32Array | Float64Array | Int32Array | Uint8Array,
  G: number,
  N: number,
  bits: Bits,
  format: GptqFormat,
): Int32Array {
  assertBits('packZeros', bits);
  const max = (1 << bits) - 1;
  const stored = new Uint8Array(zeros.length);
  for (let i = 0; i < zeros.length; i++) {
    const z = zeros[i]!;
    if (!Number.isInteger(z) || z < 0 || z > max) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `packZeros: zero point ${z} at [${Math.floor(i / N)}, ${i % N}] is not an integer in [0, ${max}] (${bits} bits)`,
      );
    }
    stored[i] = storedZero(z, bits, format);
  }
  return packColumns(stored, G, N, bits);
}

/** The zero points z [G, N] that qzeros words in `format` mean. */
export function unpackZeros(
  words: Int32Array,
  G: number,
  N: number,
  bits: Bits,
  format: GptqFormat,
): Uint8Array {
  const fields = unpackColumns(words, G, N, bits);
  if (format === 'gptq') {
    const mask = (1 << bits) - 1;
    for (let i = 0; i < fields.length; i++) fields[i] = (fields[i]! + 1) & mask;
  }
  return fields;
}

/**
 * Converts qzeros words [G, N*bits/32] between v1 and v2 field by field: unpack, add 1 (v1 → v2)
 * or subtract 1 (v2 → v1) modulo 2^bits, repack. Never a per-word constant: at 3 bits fields
 * straddle words and a word-wide add carries into the wrong field.
 */
export function convertQzeros(
  words: Int32Array,
  G: number,
  N: number,
  bits: Bits,
  from: GptqFormat,
  to: GptqFormat,
): Int32Array {
  if (from === to) return words.slice();
  const fields = unpackColumns(words, G, N, bits);
  const mask = (1 << bits) - 1;
  const step = from === 'gptq' ? 1 : -1;
  for (let i = 0; i < fields.length; i++) fields[i] = (fields[i]! + step) & mask;
  return packColumns(fields, G, N, bits);
}

/**
 * The qzeros words of symmetric quantization (z = 2^(bits-1) everywhere) in `format`, as unsigned
 * 32-bit values: one word that repeats for 2/4/8 bits (4-bit v1 0x77777777, v2 0x88888888), the
 * three words that repeat for 3 bits.
 */
export function symmetricQzerosWords(bits: Bits, format: GptqFormat): number[] {
  assertBits('symmetricQzerosWords', bits);
  const z = 1 << (bits - 1);
  const fields = new Uint8Array(32).fill(storedZero(z, bits, format));
  const words = packColumns(fields, 1, 32, bits);
  return [...words.subarray(0, bits === 3 ? 3 : 1)].map((word) => word >>> 0);
}

/** '0x77777777' for a word (unsigned, 8 hex digits). */
export function hexWord(word: number): string {
  return `0x${(word >>> 0).toString(16).padStart(8, '0')}`;
}

export interface ZeroFormatDetection {
  /** The checkpoint_format the config states. */
  declared: GptqFormat;
  /** What the qzeros words actually mean; use this one. */
  format: GptqFormat;
  /** Whether `format` differs from `declared`. */
  mislabelled: boolean;
  /**
   * The symmetric qzeros words of each format at this width, unsigned (FORMATS.md): v1 stores
   * z - 1 = 2^(bits-1) - 1, v2 stores z = 2^(bits-1).
   */
  symmetricWords: { gptq: number[]; gptq_v2: number[] };
  /** One sentence saying what was found and decided, for logs. */
  reason: string;
}

/**
 * Decides what the qzeros of one quantized layer (the first one, by convention) mean. Symmetric
 * quantization has z = 2^(bits-1) in every field, so its words are fixed: under a v1 ('gptq') label
 * every field equal to 2^(bits-1) (4-bit words 0x88888888, 2-bit 0xaaaaaaaa, 8-bit 0x80808080)
 * is v2 data mislabelled, as some GPTQModel exports are; under a v2 label every field equal to
 * 2^(bits-1) - 1 (0x77777777, 0x55555555, 0x7f7f7f7f) is v1 data mislabelled. Anything else
 * (asymmetric zeros vary) keeps the declared format.
 */
export function detectZeroFormat(
  qzeros: Int32Array,
  G: number,
  N: number,
  bits: Bits,
  declared: GptqFormat,
  where = 'qzeros',
): ZeroFormatDetection {
  const fields = unpackColumns(qzeros, G, N, bits);
  const symmetricWords = {
    gptq: symmetricQzerosWords(bits, 'gptq'),
    gptq_v2: symmetricQzerosWords(bits, 'gptq_v2'),
  };
  const other: GptqFormat = declared === 'gptq' ? 'gptq_v2' : 'gptq';
  const half = 1 << (bits - 1);
  const otherSymmetric = storedZero(half, bits, other);
  const words = (format: GptqFormat) => symmetricWords[format].map(hexWord).join(' ');
  const uniform = fields.length > 0 && fields.every((field) => field === otherSymmetric);
  if (uniform) {
    return {
      declared,
      format: other,
      mislabelled: true,
      symmetricWords,
      reason: `${where}: checkpoint_format says '${declared}', but every zero point field is ${otherSymmetric} (words ${words(other)}), the symmetric zero as '${other}' stores it ('${declared}' would store ${words(declared)}); reading it as '${other}'`,
    };
  }
  return {
    declared,
    format: declared,
    mislabelled: false,
    symmetricWords,
    reason: `${where}: zero points are consistent with checkpoint_format '${declared}'`,
  };
}
