import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32Bits,
  f16BitsToF32Bits,
  f32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32FromBits,
  fromBf16Bits,
  fromF16Bits,
  scope,
  tensor,
  toBf16Bits,
  toF16Bits,
  transpose,
} from '../src/index';
import { Generator } from '../src/random';

// Every expectation here comes from the IEEE definitions evaluated in f64, never from the bit
// tricks half.ts uses, so the two are independent.

const ALL_PATTERNS = Array.from({ length: 65536 }, (_, bits) => bits);
const F16_SIGN = 0x8000;
const F16_INF = 0x7c00;
const BF16_INF = 0x7f80;

/** The f16 value of `bits` by definition; the all-ones exponent with mantissa 0 reads as 2^16 when `pastInf`. */
function f16Value(bits: number, pastInf = false): number {
  const sign = bits & F16_SIGN ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f && !(pastInf && mantissa === 0))
    return mantissa === 0 ? sign * Infinity : Number.NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** The bf16 value of `bits` by definition (an f32 with 7 mantissa bits). */
function bf16Value(bits: number, pastInf = false): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 7) & 0xff;
  const mantissa = bits & 0x7f;
  if (exponent === 0xff && !(pastInf && mantissa === 0))
    return mantissa === 0 ? sign * Infinity : Number.NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -133;
  return sign * 2 ** (exponent - 127) * (1 + mantissa / 128);
}

/** Collects failures instead of calling expect 65,536 times; reports the first few. */
function mismatches<T>(items: readonly T[], check: (item: T) => string | null): string[] {
  const found: string[] = [];
  for (const item of items) {
    const problem = check(item);
    if (problem !== null && found.push(problem) >= 10) break;
  }
  return found;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Round-to-nearest-even into a format given by the sorted values of its finite magnitudes
 * (`table[i]` is the magnitude of pattern i): the nearer neighbour, the even pattern on a tie,
 * and Inf at or past the midpoint between the largest finite value and `overflowAt`.
 */
function roundByTable(
  value: number,
  table: Float64Array,
  overflowAt: number,
  infPattern: number,
): number {
  const magnitude = Math.abs(value);
  const last = table.length - 1;
  let low = 0;
  if (magnitude >= table[last]!) {
    low = last;
  } else {
    let high = last;
    while (high - low > 1) {
      const middle = (low + high) >>> 1;
      if (table[middle]! <= magnitude) low = middle;
      else high = middle;
    }
  }
  const lowValue = table[low]!;
  const highValue = low === last ? overflowAt : table[low + 1]!;
  const below = magnitude - lowValue;
  const above = highValue - magnitude;
  const high = low === last ? infPattern : low + 1;
  if (below < above) return low;
  if (above < below) return high;
  return low % 2 === 0 ? low : high;
}

const f16Magnitudes = Float64Array.from({ length: F16_INF }, (_, bits) => f16Value(bits));
const bf16Magnitudes = Float64Array.from({ length: BF16_INF }, (_, bits) => bf16Value(bits));

/** Random finite f32 patterns, exponents concentrated around `centre` where rounding happens. */
function randomF32Patterns(count: number, centre: number, spread: number, seed: number): number[] {
  const g = new Generator(seed);
  return Array.from({ length: count }, () => {
    const exponent = Math.max(
      0,
      Math.min(254, centre - spread + (g.nextUint32() % (2 * spread + 1))),
    );
    return ((g.nextUint32() & 0x80000000) | (exponent << 23) | (g.nextUint32() & 0x7fffff)) >>> 0;
  });
}

describe('f16 <-> f32 bits', () => {
  it('widens every f16 pattern to exactly its value', () => {
    const wrong = mismatches(ALL_PATTERNS, (h) => {
      const expected = f16Value(h);
      const widened = f32FromBits(f16BitsToF32Bits(h));
      if (!Object.is(widened, expected)) return `${hex(h)}: ${widened}, expected ${expected}`;
      if (!Object.is(fromF16Bits(h), expected))
        return `${hex(h)}: fromF16Bits gives ${fromF16Bits(h)}, expected ${expected}`;
      return null;
    });
    expect(wrong).toEqual([]);
  });

  it('keeps the sign and payload of every f16 NaN in the top f32 mantissa bits', () => {
    const nans = ALL_PATTERNS.filter((h) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
    expect(nans).toHaveLength(2 * 1023);
    const wrong = mismatches(nans, (h) => {
      const expected = (((h & F16_SIGN) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
      const bits = f16BitsToF32Bits(h);
      return bits === expected ? null : `${hex(h)}: ${hex(bits)}, expected ${hex(expected)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('round-trips every f16 pattern, NaN payloads and signed zeros included', () => {
    const wrong = mismatches(ALL_PATTERNS, (h) => {
      const back = f32BitsToF16Bits(f16BitsToF32Bits(h));
      return back === h ? null : `${hex(h)} came back as ${hex(back)}`;
    });
    expect(wrong).toEqual([]);
  });
});

describe('f32 -> f16 rounding', () => {
  // Adjacent pairs (h, h + 1) of one sign; 0x7bff's neighbour 0x7c00 stands for 2^16, where
  // IEEE puts the overflow threshold.
  const lowerPatterns = Array.from({ length: F16_INF }, (_, h) => h).flatMap((h) => [
    h,
    h | F16_SIGN,
  ]);

  it('rounds the exact midpoint of every adjacent pair to the even pattern', () => {
    const wrong = mismatches(lowerPatterns, (lower) => {
      const upper = lower + 1;
      const midpoint = (f16Value(lower) + f16Value(upper, true)) / 2;
      if (Math.fround(midpoint) !== midpoint) return `midpoint of ${hex(lower)} is not an f32`;
      const expected = lower % 2 === 0 ? lower : upper;
      const rounded = f32BitsToF16Bits(f32Bits(midpoint));
      return rounded === expected
        ? null
        : `midpoint ${midpoint} of ${hex(lower)}: ${hex(rounded)}, expected ${hex(expected)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('rounds one f32 ulp either side of every midpoint to the nearer pattern', () => {
    const wrong = mismatches(lowerPatterns, (lower) => {
      const upper = lower + 1;
      const midpointBits = f32Bits((f16Value(lower) + f16Value(upper, true)) / 2);
      // Adding 1 to the bits moves away from zero for either sign.
      const towardUpper = f32BitsToF16Bits(midpointBits + 1);
      const towardLower = f32BitsToF16Bits(midpointBits - 1);
      if (towardUpper !== upper)
        return `just past midpoint of ${hex(lower)}: ${hex(towardUpper)}, expected ${hex(upper)}`;
      if (towardLower !== lower)
        return `just before midpoint of ${hex(lower)}: ${hex(towardLower)}, expected ${hex(lower)}`;
      return null;
    });
    expect(wrong).toEqual([]);
  });

  it('maps every f16 value itself to its own pattern', () => {
    const finite = ALL_PATTERNS.filter((h) => (h & 0x7c00) !== 0x7c00);
    const wrong = mismatches(finite, (h) => {
      const bits = toF16Bits(f16Value(h));
      return bits === h ? null : `${hex(h)} -> ${hex(bits)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('agrees with a table search on random f32 values around the f16 range', () => {
    const patterns = [
      ...randomF32Patterns(100_000, 127, 28, 1),
      ...randomF32Patterns(20_000, 127 - 20, 6, 2),
      ...randomF32Patterns(20_000, 127 + 15, 2, 3),
    ];
    const wrong = mismatches(patterns, (bits) => {
      const value = f32FromBits(bits);
      const sign = bits >>> 31 ? F16_SIGN : 0;
      const expected = sign | roundByTable(value, f16Magnitudes, 65536, F16_INF);
      const rounded = f32BitsToF16Bits(bits);
      return rounded === expected
        ? null
        : `${value} (${hex(bits)}): ${hex(rounded)}, expected ${hex(expected)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('overflows to Inf from 65520 up and keeps 65504 below it', () => {
    expect(toF16Bits(65504)).toBe(0x7bff);
    expect(toF16Bits(65519.99)).toBe(0x7bff);
    expect(f32BitsToF16Bits(f32Bits(65520) - 1)).toBe(0x7bff);
    expect(toF16Bits(65520)).toBe(F16_INF);
    expect(toF16Bits(-65520)).toBe(F16_INF | F16_SIGN);
    expect(toF16Bits(1e6)).toBe(F16_INF);
    expect(f32BitsToF16Bits(0x7f7fffff)).toBe(F16_INF);
    expect(toF16Bits(Infinity)).toBe(F16_INF);
    expect(toF16Bits(-Infinity)).toBe(F16_INF | F16_SIGN);
  });

  it('flushes at most 2^-25 to zero and rounds anything above it up to 2^-24', () => {
    expect(toF16Bits(2 ** -25)).toBe(0);
    expect(f32BitsToF16Bits(f32Bits(2 ** -25) + 1)).toBe(1);
    expect(f32BitsToF16Bits(f32Bits(2 ** -25) - 1)).toBe(0);
    expect(toF16Bits(-(2 ** -25))).toBe(F16_SIGN);
    expect(toF16Bits(2 ** -26)).toBe(0);
    expect(toF16Bits(2 ** -149)).toBe(0);
    expect(toF16Bits(-(2 ** -149))).toBe(F16_SIGN);
    expect(toF16Bits(2 ** -24)).toBe(1);
    expect(toF16Bits(3 * 2 ** -25)).toBe(2);
    expect(toF16Bits(5 * 2 ** -25)).toBe(2);
    expect(toF16Bits(2 ** -14)).toBe(0x400);
    expect(toF16Bits(2 ** -14 - 2 ** -25)).toBe(0x400);
  });

  it('keeps signed zeros', () => {
    expect(toF16Bits(0)).toBe(0);
    expect(toF16Bits(-0)).toBe(F16_SIGN);
    expect(Object.is(fromF16Bits(F16_SIGN), -0)).toBe(true);
  });

  it('turns every f32 NaN into an f16 NaN of the same sign, keeping the payload top bits', () => {
    const wrong: string[] = [];
    for (const sign of [0, 0x80000000]) {
      for (let payload = 1; payload <= 0x7fffff && wrong.length < 10; payload++) {
        const bits = (sign | 0x7f800000 | payload) >>> 0;
        const half = f32BitsToF16Bits(bits);
        const isHalfNaN = (half & 0x7c00) === 0x7c00 && (half & 0x3ff) !== 0;
        const top = payload >>> 13;
        if (
          !isHalfNaN ||
          (half & F16_SIGN) !== sign >>> 16 ||
          (top !== 0 && (half & 0x3ff) !== top)
        ) {
          wrong.push(`${hex(bits)} -> ${hex(half)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(f32BitsToF16Bits(0x7fc00000)).toBe(0x7e00);
    expect(Number.isNaN(fromF16Bits(toF16Bits(Number.NaN)))).toBe(true);
  });
});

describe('bf16 <-> f32', () => {
  it('widens every bf16 pattern to exactly its value', () => {
    const wrong = mismatches(ALL_PATTERNS, (b) => {
      const expected = bf16Value(b);
      const widened = f32FromBits(bf16BitsToF32Bits(b));
      if (!Object.is(widened, expected)) return `${hex(b)}: ${widened}, expected ${expected}`;
      if (!Object.is(fromBf16Bits(b), expected))
        return `${hex(b)}: fromBf16Bits gives ${fromBf16Bits(b)}`;
      return (bf16BitsToF32Bits(b) & 0xffff) === 0 ? null : `${hex(b)}: low f32 bits are set`;
    });
    expect(wrong).toEqual([]);
  });

  it('round-trips every bf16 pattern, NaN payloads included', () => {
    const wrong = mismatches(ALL_PATTERNS, (b) => {
      const back = f32BitsToBf16Bits(bf16BitsToF32Bits(b));
      return back === b ? null : `${hex(b)} came back as ${hex(back)}`;
    });
    expect(wrong).toEqual([]);
  });

  const lowerPatterns = Array.from({ length: BF16_INF }, (_, b) => b).flatMap((b) => [
    b,
    b | 0x8000,
  ]);

  it('rounds the midpoint of every adjacent pair to the even pattern, one ulp off to the nearer', () => {
    const wrong = mismatches(lowerPatterns, (lower) => {
      const upper = lower + 1;
      const midpoint = (bf16Value(lower) + bf16Value(upper, true)) / 2;
      if (Math.fround(midpoint) !== midpoint) return `midpoint of ${hex(lower)} is not an f32`;
      const bits = f32Bits(midpoint);
      const even = lower % 2 === 0 ? lower : upper;
      const results = [
        f32BitsToBf16Bits(bits),
        f32BitsToBf16Bits(bits + 1),
        f32BitsToBf16Bits(bits - 1),
      ];
      const expected = [even, upper, lower];
      return results.every((r, i) => r === expected[i])
        ? null
        : `around midpoint ${midpoint} of ${hex(lower)}: ${results.map(hex)}, expected ${expected.map(hex)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('agrees with a table search on random f32 values', () => {
    const patterns = [
      ...randomF32Patterns(100_000, 127, 127, 4),
      ...randomF32Patterns(20_000, 254, 2, 5),
    ];
    const wrong = mismatches(patterns, (bits) => {
      const value = f32FromBits(bits);
      const sign = bits >>> 31 ? 0x8000 : 0;
      const expected = sign | roundByTable(value, bf16Magnitudes, 2 ** 128, BF16_INF);
      const rounded = f32BitsToBf16Bits(bits);
      return rounded === expected
        ? null
        : `${value} (${hex(bits)}): ${hex(rounded)}, expected ${hex(expected)}`;
    });
    expect(wrong).toEqual([]);
  });

  it('overflows past the largest bf16 to Inf and keeps signed zeros', () => {
    expect(f32BitsToBf16Bits(0x7f7fffff)).toBe(BF16_INF);
    expect(toBf16Bits(3.4e38)).toBe(BF16_INF);
    expect(toBf16Bits(-Infinity)).toBe(BF16_INF | 0x8000);
    expect(toBf16Bits(0)).toBe(0);
    expect(toBf16Bits(-0)).toBe(0x8000);
  });

  it('turns every f32 NaN into a bf16 NaN of the same sign (quiet when the payload is only in the low bits)', () => {
    const wrong: string[] = [];
    for (const sign of [0, 0x80000000]) {
      for (let payload = 1; payload <= 0x7fffff && wrong.length < 10; payload++) {
        const bits = (sign | 0x7f800000 | payload) >>> 0;
        const result = f32BitsToBf16Bits(bits);
        const top = payload >>> 16;
        const expectedMantissa = top === 0 ? 0x40 : top;
        if (result !== ((sign >>> 16) | BF16_INF | expectedMantissa))
          wrong.push(`${hex(bits)} -> ${hex(result)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(toBf16Bits(Number.NaN)).toBe(0x7fc0);
  });
});

describe('half-precision tensors', () => {
  it('rounds f16 tensor values to nearest even and exposes the bits', () => {
    scope(() => {
      const values = [1 / 3, 65519, 65520, -1e-8, 2049, 2051, -0, Number.NaN, Infinity, 1e-7];
      const t = tensor(values, { dtype: 'f16' });
      expect(Array.from(t.rawSync())).toEqual([
        0x3555, 0x7bff, 0x7c00, 0x8000, 0x6800, 0x6802, 0x8000, 0x7e00, 0x7c00, 0x0002,
      ]);
      const data = t.dataSync();
      expect(data).toBeInstanceOf(Float32Array);
      expect(Array.from(data)).toEqual([
        0.333251953125,
        65504,
        Infinity,
        -0,
        2048,
        2052,
        -0,
        Number.NaN,
        Infinity,
        2 * 2 ** -24,
      ]);
      expect(Object.is(data[3], -0)).toBe(true);
    });
  });

  it('rounds bf16 tensor values to nearest even and exposes the bits', () => {
    scope(() => {
      const t = tensor([1 / 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, Number.NaN, -2], {
        dtype: 'bf16',
      });
      expect(Array.from(t.rawSync())).toEqual([0x3eab, 0x3f80, 0x3f82, 0x7f80, 0x7fc0, 0xc000]);
      expect(Array.from(t.dataSync())).toEqual([
        0.333984375,
        1,
        1 + 2 ** -6,
        Infinity,
        Number.NaN,
        -2,
      ]);
    });
  });

  it('takes raw bits from a Uint16Array and keeps NaN payloads through a strided copy', () => {
    scope(() => {
      const bits = new Uint16Array([0x7c01, 0xfe55, 0x3c00, 0x8001, 0x7bff, 0x0000]);
      const t = tensor(bits, { dtype: 'f16', shape: [2, 3] });
      expect(Array.from(t.rawSync())).toEqual(Array.from(bits));
      const transposed = transpose(t);
      expect(transposed.isContiguous).toBe(false);
      expect(Array.from(transposed.rawSync())).toEqual([
        0x7c01, 0x8001, 0xfe55, 0x7bff, 0x3c00, 0x0000,
      ]);
      const widened = Array.from(t.dataSync());
      expect(widened.slice(0, 2).every(Number.isNaN)).toBe(true);
      expect(widened.slice(2)).toEqual([1, -(2 ** -24), 65504, 0]);
    });
  });
});

describe('rounding an f64 number', () => {
  it('rounds once, directly from f64, where going through f32 would round twice', () => {
    // 2049 is the tie between f16 2048 and 2050; a tiny excess decides it, though f32 loses it.
    expect(fromF16Bits(toF16Bits(2049 + 2 ** -40))).toBe(2050);
    expect(fromF16Bits(toF16Bits(2049 - 2 ** -40))).toBe(2048);
    expect(fromF16Bits(toF16Bits(2049))).toBe(2048);
    expect(fromF16Bits(toF16Bits(-(2049 + 2 ** -40)))).toBe(-2050);
    // bf16 has steps of 2 at 256: 257 ties to 256, anything above goes to 258.
    expect(fromBf16Bits(toBf16Bits(257 + 2 ** -30))).toBe(258);
    expect(fromBf16Bits(toBf16Bits(257))).toBe(256);
    expect(fromF16Bits(toF16Bits(1e300))).toBe(Number.POSITIVE_INFINITY);
    expect(fromBf16Bits(toBf16Bits(-1e300))).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(fromF16Bits(toF16Bits(Number.NaN)))).toBe(true);
    expect(fromF16Bits(toF16Bits(2 ** -26))).toBe(0);
  });
});
