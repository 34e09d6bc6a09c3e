/**
 * Bit-exact conversions between f32 and the 16-bit float formats, with IEEE round-to-nearest-even,
 * Inf, NaN (payload kept, never turned into Inf) and subnormals. The rules match numpy's float16
 * and PyTorch's bfloat16 rounding, so checkpoints round-trip bit for bit.
 */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The bit pattern of `value` rounded to f32. */
export function f32Bits(value: number): number {
  f32Scratch[0] = value;
  return u32Scratch[0]!;
}

/** The f32 value of a 32-bit pattern. */
export function f32FromBits(bits: number): number {
  u32Scratch[0] = bits;
  return f32Scratch[0]!;
}

/** Rounds the f32 with bit pattern `bits` to f16 (nearest, ties to even); returns the f16 bits. */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    if (mantissa === 0) return sign | 0x7c00;
    // Keep the payload's top bits; a payload only in the low bits would read as Inf, so quieten it.
    const payload = mantissa >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Below 2^-25 even the largest value rounds to zero; 2^-25 itself ties to even (zero).
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const kept = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    // A carry out of the subnormal range gives the smallest normal's encoding, which is right.
    return sign | (kept + (rest > half || (rest === half && (kept & 1) === 1) ? 1 : 0));
  }
  const truncated = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry into the exponent is the correct next binade, and past the largest finite value Inf.
  return truncated + (rest > 0x1000 || (rest === 0x1000 && (truncated & 1) === 1) ? 1 : 0);
}

/** Widens f16 bits to the f32 bit pattern of the same value (exact). */
export function f16BitsToF32Bits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0;
    // Normalise the subnormal: shift until the implicit bit appears.
    let e = -1;
    do {
      e++;
      mantissa <<= 1;
    } while ((mantissa & 0x400) === 0);
    return (sign | ((127 - 15 - e) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
}

/** Rounds the f32 with bit pattern `bits` to bf16 (nearest, ties to even); returns the bf16 bits. */
export function f32BitsToBf16Bits(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    const top = bits >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  return ((bits >>> 0) + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** Widens bf16 bits to f32 bits (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32Bits(bf16: number): number {
  return (bf16 << 16) >>> 0;
}

/**
 * The f32 bits of `value` rounded to odd: truncated toward zero, with the last bit set when
 * inexact. Rounding that again to a format at least two bits narrower (f16, bf16) gives the same
 * result as rounding `value` directly, with no double-rounding error.
 */
function f32BitsRoundedToOdd(value: number): number {
  const bits = f32Bits(value);
  const rounded = f32FromBits(bits);
  if (rounded === value || Number.isNaN(value)) return bits;
  const truncated = Math.abs(rounded) > Math.abs(value) ? bits - 1 : bits;
  return (truncated | 1) >>> 0;
}

/** Rounds a number (an f64) directly to f16 bits, to nearest with ties to even. */
export function toF16Bits(value: number): number {
  return f32BitsToF16Bits(f32BitsRoundedToOdd(value));
}

/** Rounds a number (an f64) directly to bf16 bits, to nearest with ties to even. */
export function toBf16Bits(value: number): number {
  return f32BitsToBf16Bits(f32BitsRoundedToOdd(value));
}

let f16Table: Float32Array | undefined;

/** The value of f16 bits, from a table built once (256 KiB). */
export function fromF16Bits(half: number): number {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    const bits = new Uint32Array(f16Table.buffer);
    for (let h = 0; h < 65536; h++) bits[h] = f16BitsToF32Bits(h);
  }
  return f16Table[half & 0xffff]!;
}

/** The value of bf16 bits. */
export function fromBf16Bits(bf16: number): number {
  return f32FromBits(bf16BitsToF32Bits(bf16));
}
