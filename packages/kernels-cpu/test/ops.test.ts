import {
  abs,
  add,
  applyRotary,
  argmax,
  assign,
  bf16BitsToF32Bits,
  broadcastTo,
  cast,
  clamp,
  concat,
  contiguous,
  cos,
  crossEntropy,
  type DType,
  div,
  equal,
  erf,
  exp,
  f16BitsToF32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  full,
  gather,
  gelu,
  grad,
  greater,
  greaterEqual,
  layerNorm,
  less,
  lessEqual,
  linear,
  log,
  logicalNot,
  logSoftmax,
  logsumexp,
  maskedFill,
  matmul,
  max,
  maximum,
  mean,
  memory,
  min,
  minimum,
  mul,
  neg,
  notEqual,
  permute,
  pow,
  relu,
  reshape,
  rmsNorm,
  rotaryTables,
  rsqrt,
  scaledDotProductAttention,
  scatterAdd,
  scope,
  sigmoid,
  silu,
  sin,
  slice,
  softmax,
  sqrt,
  square,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
  where,
  withBackend,
  zeros,
} from '@slimlm/core';
import { runConformance, sample } from '@slimlm/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { available, CPU, setIsa, setThreads } from '../src/index';
import { isas, restoreIsaAndThreadsAfterAll } from './isa-paths';

// Every native op against the reference backend, on every kernel path this CPU has and with one
// and two threads: odd sizes (vector tails), views (transposed, sliced, broadcast), f16 and bf16,
// special values. Bit-exact where the op is (data movement, casts, IEEE-exact arithmetic),
// within 1e-5 (|actual - expected| / (1 + |expected|)) for f32 math, and within the halves'
// rounding step for f16 and bf16 math.

const paths = isas.flatMap((isa) => [1, 2].map((threads) => [isa, threads] as const));

restoreIsaAndThreadsAfterAll();

type Outputs = Tensor | readonly Tensor[];

/** Allowed error of a case: 0 for bit-exact, else one bound per output dtype. */
type Tolerance = 0 | { f32: number; f16?: number; bf16?: number };

const MATH: Tolerance = { f32: 1e-5, f16: 2e-3, bf16: 1.6e-2 };

function limit(tolerance: Tolerance, dtype: DType): number {
  if (tolerance === 0) return 0;
  if (dtype === 'f16') return tolerance.f16 ?? 2e-3;
  if (dtype === 'bf16') return tolerance.bf16 ?? 1.6e-2;
  return tolerance.f32;
}

function expectMatch(actual: Tensor, expected: Tensor, tolerance: Tolerance, label: string): void {
  expect(actual.backend.name, label).toBe(CPU);
  expect(actual.dtype, label).toBe(expected.dtype);
  expect(actual.shape, label).toEqual(expected.shape);
  const a = actual.dataSync();
  const e = expected.dataSync();
  const bound = limit(tolerance, expected.dtype);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const finite = Number.isFinite(x) && Number.isFinite(y);
    const error =
      bound > 0 && finite ? Math.abs(x - y) / (1 + Math.abs(y)) : Number.POSITIVE_INFINITY;
    if (error > worst) {
      worst = error;
      at = i;
    }
  }
  expect(worst, `${label}: element ${at} is ${a[at]}, expected ${e[at]}`).toBeLessThanOrEqual(
    bound,
  );
}

/** Builds the same case on the reference backend and on "cpu" and compares every output. */
function check(label: string, build: () => Outputs, tolerance: Tolerance = MATH): void {
  scope(() => {
    const list = (o: Outputs) => (Array.isArray(o) ? o : [o as Tensor]);
    const expected = list(withBackend('reference', build));
    const actual = list(withBackend(CPU, build));
    expect(actual.length, label).toBe(expected.length);
    actual.forEach((t, i) => {
      expectMatch(t, expected[i]!, tolerance, `${label} [output ${i}]`);
    });
  });
}

/** Seeded normal values times `scale`, optionally of another float dtype. */
function values(shape: readonly number[], seed: number, scale = 1, dtype: DType = 'f32'): Tensor {
  const t = scale === 1 ? sample(shape, seed) : mul(sample(shape, seed), scale);
  return dtype === 'f32' ? t : cast(t, dtype);
}

function positive(shape: readonly number[], seed: number, dtype: DType = 'f32'): Tensor {
  const t = sample(shape, seed, { positive: true });
  return dtype === 'f32' ? t : cast(t, dtype);
}

/** f32 values that exercise IEEE edge cases of elementwise functions. */
function specials(): Tensor {
  return tensor([
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    0,
    -0,
    1e-40,
    -1e-40,
    1e-30,
    1,
    -1,
    0.5,
    88.7,
    89,
    -87.5,
    -104,
    -110,
    1e30,
    -1e30,
    3.4e38,
    20,
    -20,
    0.39,
    0.41,
  ]);
}

/** Shapes of 0, 1, 3, 7, 17, 33, 65 and over a thousand elements, and views of them. */
const SHAPES: readonly (readonly number[])[] = [
  [0],
  [1],
  [3],
  [7],
  [17],
  [33],
  [65],
  [1031],
  [3, 7, 5],
];

/** Views: transposed, sliced, broadcast both ways, and a tensor large enough to use two threads. */
function views(seed: number, scale = 1, dtype: DType = 'f32'): Tensor[] {
  return [
    transpose(values([17, 33], seed, scale, dtype)),
    slice(values([9, 70], seed + 1, scale, dtype), [2, 3], [7, 68]),
    broadcastTo(values([1, 65], seed + 2, scale, dtype), [7, 65]),
    broadcastTo(values([7, 1], seed + 3, scale, dtype), [7, 65]),
    values([160, 257], seed + 4, scale, dtype),
  ];
}

const UNARY: [string, (x: Tensor) => Tensor, 'any' | 'positive'][] = [
  ['neg', neg, 'any'],
  ['exp', exp, 'any'],
  ['log', log, 'positive'],
  ['sqrt', sqrt, 'positive'],
  ['rsqrt', rsqrt, 'positive'],
  ['tanh', tanh, 'any'],
  ['sigmoid', sigmoid, 'any'],
  ['silu', silu, 'any'],
  ['gelu (erf)', (x) => gelu(x), 'any'],
  ['gelu (tanh)', (x) => gelu(x, { approximate: 'tanh' }), 'any'],
  ['relu', relu, 'any'],
  ['square', square, 'any'],
  ['abs', abs, 'any'],
  ['erf', erf, 'any'],
  ['sin', sin, 'any'],
  ['cos', cos, 'any'],
  ['clamp', (x) => clamp(x, -0.7, 0.3), 'any'],
  ['clamp (min only)', (x) => clamp(x, 0.1), 'any'],
];

/** IEEE-exact in f32 (and, through f32, in f16 and bf16): the reference's f64 result rounds the same. */
const EXACT_UNARY = new Set([
  'neg',
  'sqrt',
  'rsqrt',
  'relu',
  'square',
  'abs',
  'clamp',
  'clamp (min only)',
]);

const BINARY: [string, (a: Tensor, b: Tensor | number) => Tensor, boolean][] = [
  ['add', add, true],
  ['sub', sub, true],
  ['mul', mul, true],
  ['div', div, true],
  ['maximum', maximum, true],
  ['minimum', minimum, true],
  ['pow', (a, b) => pow(abs(a), b), false],
];

const COMPARE: [string, (a: Tensor, b: Tensor | number) => Tensor][] = [
  ['equal', equal],
  ['notEqual', notEqual],
  ['greater', greater],
  ['greaterEqual', greaterEqual],
  ['less', less],
  ['lessEqual', lessEqual],
];

describe.runIf(available).each(paths)(
  'native ops on the %s path with %i thread(s)',
  (isa, threads) => {
    beforeAll(() => {
      setIsa(isa);
      setThreads(threads);
    });

    it('copies every dtype bit for bit, on any strides both sides', () => {
      for (const dtype of ['f32', 'f16', 'bf16', 'f64', 'i32', 'i8', 'u8'] as DType[]) {
        const make = (shape: readonly number[], seed: number) =>
          cast(values(shape, seed, 50), dtype);
        check(
          `contiguous copies (${dtype})`,
          () => SHAPES.map((s, i) => contiguous(permute(make(s, i), [...s.keys()].reverse()))),
          0,
        );
        check(
          `views (${dtype})`,
          () => [
            contiguous(transpose(make([40, 70], 1))),
            contiguous(slice(make([9, 70], 2), [2, 3], [7, 68])),
            contiguous(broadcastTo(make([1, 65], 3), [7, 65])),
            contiguous(permute(make([3, 4, 5, 6], 4), [2, 0, 3, 1])),
            reshape(transpose(make([6, 10], 5)), [60]),
          ],
          0,
        );
        // assign writes through a strided destination: a slice of a transposed buffer.
        check(
          `into views (${dtype})`,
          () => {
            const target = transpose(cast(zeros([12, 9]), dtype));
            const window = slice(target, [1, 2], [8, 11]);
            assign(window, make([7, 9], 6));
            assign(slice(target, [0, 0], [1, 12]), make([1], 7));
            return contiguous(target);
          },
          0,
        );
        // Overlapping views of one tensor: each row takes the next one's old values.
        check(
          `between overlapping views (${dtype})`,
          () => {
            const t = make([10, 8], 8);
            assign(slice(t, [0, 0], [9, 8]), slice(t, [1, 0], [10, 8]));
            return t;
          },
          0,
        );
      }
      check(
        'a large contiguous block',
        () => {
          const target = zeros([300_001]);
          assign(target, values([300_001], 8));
          return target;
        },
        0,
      );
    });

    it('fills every dtype as the reference stores the value', () => {
      check(
        'fill',
        () => [
          full([7, 3], 1.5),
          full([1031], Number.NaN),
          full([5], -0),
          full([17], 0.1, { dtype: 'f16' }),
          full([17], 1e-7, { dtype: 'f16' }),
          full([17], 0.1, { dtype: 'bf16' }),
          full([9], 1 / 3, { dtype: 'f64' }),
          full([33], 2.9, { dtype: 'i32' }),
          full([33], -7.5, { dtype: 'i8' }),
          full([65], 300, { dtype: 'u8' }),
          full([0], 1),
          full([], 4),
          full([300_000], 0.25),
        ],
        0,
      );
    });

    it('casts between f32, f16 and bf16 (and from u8) bit for bit', () => {
      for (const [from, to] of [
        ['f32', 'f16'],
        ['f32', 'bf16'],
        ['f16', 'f32'],
        ['bf16', 'f32'],
        ['f16', 'bf16'],
        ['bf16', 'f16'],
      ] as [DType, DType][]) {
        check(
          `cast ${from} -> ${to}`,
          () => [
            ...SHAPES.map((s, i) => cast(values(s, i, 1000, from), to)),
            ...views(30, 1e3, from).map((v) => cast(v, to)),
            cast(cast(specials(), from), to),
          ],
          0,
        );
      }
      check(
        'cast u8 -> floats',
        () => {
          const mask = cast(greater(values([1031], 40), 0), 'u8');
          return [cast(mask, 'f32'), cast(mask, 'f16'), cast(mask, 'bf16')];
        },
        0,
      );
    });

    it('rounds every f16 and bf16 pattern, and f32 edge patterns, exactly like half.ts', () => {
      scope(() => {
        const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
        const f16 = withBackend(CPU, () => cast(tensor(all, { dtype: 'f16' }), 'f32'));
        const bf16 = withBackend(CPU, () => cast(tensor(all, { dtype: 'bf16' }), 'f32'));
        const f16Bits = new Uint32Array((f16.rawSync() as Float32Array).buffer);
        const bf16Bits = new Uint32Array((bf16.rawSync() as Float32Array).buffer);
        for (let i = 0; i < 65536; i++) {
          if (f16Bits[i] !== f16BitsToF32Bits(i)) expect.fail(`f16 ${i} widened to ${f16Bits[i]}`);
          if (bf16Bits[i] !== bf16BitsToF32Bits(i))
            expect.fail(`bf16 ${i} widened to ${bf16Bits[i]}`);
        }
        // Every exponent with mantissas around each rounding boundary, NaN payloads included.
        const patterns: number[] = [];
        for (let top = 0; top < 512; top++) {
          for (const low of [
            0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x18000, 0x400000,
            0x7fffff,
          ]) {
            patterns.push(((top << 23) | low) >>> 0);
          }
        }
        const bits = Uint32Array.from(patterns);
        const input = new Float32Array(bits.buffer);
        const toF16 = withBackend(CPU, () => cast(tensor(input), 'f16')).rawSync() as Uint16Array;
        const toBf16 = withBackend(CPU, () => cast(tensor(input), 'bf16')).rawSync() as Uint16Array;
        for (let i = 0; i < bits.length; i++) {
          if (toF16[i] !== f32BitsToF16Bits(bits[i]!))
            expect.fail(`f32 bits ${bits[i]} rounded to f16 ${toF16[i]}`);
          if (toBf16[i] !== f32BitsToBf16Bits(bits[i]!))
            expect.fail(`f32 bits ${bits[i]} rounded to bf16 ${toBf16[i]}`);
        }
      });
    });

    it('computes unary functions on odd sizes, views and special values', () => {
      for (const [name, f, domain] of UNARY) {
        const tolerance = EXACT_UNARY.has(name) ? 0 : MATH;
        const make = (shape: readonly number[], seed: number) =>
          domain === 'positive' ? positive(shape, seed) : values(shape, seed, 4);
        check(name, () => SHAPES.map((s, i) => f(make(s, i))), tolerance);
        check(
          `${name} of views`,
          () =>
            views(10, domain === 'positive' ? 1 : 4).map((v) =>
              f(domain === 'positive' ? abs(v) : v),
            ),
          tolerance,
        );
        check(`${name} of special values`, () => f(specials()), tolerance);
        check(`${name} of a wide range`, () => f(values([4099], 3, 40)), tolerance);
        for (const dtype of ['f16', 'bf16'] as DType[]) {
          // 1 / sqrt in f64 rounds twice on the way to a half.
          const halfTolerance = EXACT_UNARY.has(name) && name !== 'rsqrt' ? 0 : MATH;
          check(
            `${name} (${dtype})`,
            () => [
              f(domain === 'positive' ? positive([1031], 4, dtype) : values([1031], 4, 4, dtype)),
              f(
                transpose(
                  domain === 'positive'
                    ? positive([17, 33], 5, dtype)
                    : values([17, 33], 5, 4, dtype),
                ),
              ),
              f(cast(specials(), dtype)),
            ],
            halfTolerance,
          );
        }
      }
    });

    it('computes binary functions with broadcasting, views and special values', () => {
      for (const [name, f, exact] of BINARY) {
        const tolerance = exact ? 0 : MATH;
        check(name, () => SHAPES.map((s, i) => f(values(s, i), values(s, i + 50, 1.5))), tolerance);
        check(
          `${name} with broadcasting`,
          () => [
            f(values([7, 1, 65], 1), values([3, 1], 2)),
            f(values([1031], 3), values([1], 4)),
            f(values([160, 257], 5), values([257], 6)),
            f(values([160, 1], 7), values([160, 257], 8)),
          ],
          tolerance,
        );
        check(
          `${name} of views`,
          () => {
            const others = views(30, 1.5);
            return views(20).map((v, i) => f(v, others[i]!));
          },
          tolerance,
        );
        check(
          `${name} of special values`,
          () => {
            const s = specials();
            return [f(s, reshape(s, [s.size, 1])), f(s, 2), f(s, -0)];
          },
          tolerance,
        );
        for (const dtype of ['f16', 'bf16'] as DType[]) {
          check(
            `${name} (${dtype})`,
            () => [
              f(values([1031], 9, 3, dtype), values([1031], 10, 3, dtype)),
              f(transpose(values([17, 33], 11, 3, dtype)), values([17], 12, 3, dtype)),
              f(cast(specials(), dtype), cast(reshape(specials(), [23, 1]), dtype)),
            ],
            exact ? 0 : MATH,
          );
        }
      }
    });

    it('compares, negates masks, and selects with where and maskedFill, for every dtype', () => {
      // i32 values an f32 round trip would merge.
      const big = () =>
        tensor(new Int32Array([2147483647, 2147483646, -2147483648, 16777217, 16777216]));
      for (const [name, f] of COMPARE) {
        check(
          name,
          () => [
            ...SHAPES.map((s, i) => f(values(s, i), values(s, i + 60))),
            f(specials(), reshape(specials(), [23, 1])),
            f(values([160, 257], 1), 0),
            f(values([1031], 2, 3, 'f16'), values([1031], 3, 3, 'f16')),
            f(cast(specials(), 'bf16'), 0),
            f(cast(values([160, 257], 5, 9), 'i32'), cast(values([257], 6, 9), 'i32')),
            f(transpose(cast(values([17, 33], 7, 9), 'i32')), 2),
            f(big(), reshape(big(), [5, 1])),
          ],
          0,
        );
      }
      check(
        'logicalNot',
        () => [
          logicalNot(specials()),
          logicalNot(transpose(values([17, 33], 4))),
          logicalNot(cast(specials(), 'f16')),
        ],
        0,
      );
      for (const dtype of ['f32', 'f16', 'bf16', 'f64', 'i32', 'i8', 'u8'] as DType[]) {
        const make = (shape: readonly number[], seed: number) =>
          cast(values(shape, seed, 50), dtype);
        const mask = (shape: readonly number[], seed: number) => greater(values(shape, seed), 0);
        check(
          `where (${dtype})`,
          () => [
            ...SHAPES.map((s, i) => where(mask(s, i), make(s, i + 1), make(s, i + 2))),
            where(mask([7, 1], 3), make([1, 65], 4), transpose(make([65, 7], 5))),
            where(mask([160, 257], 6), make([160, 257], 7), 3),
            where(mask([33], 8), 2, make([17, 33], 9)),
          ],
          0,
        );
        check(
          `maskedFill (${dtype})`,
          () => [
            maskedFill(make([1031], 10), mask([1031], 11), -3),
            maskedFill(
              transpose(make([17, 33], 12)),
              mask([1, 17], 13),
              dtype === 'u8' ? 255 : -1.5,
            ),
            maskedFill(make([160, 257], 14), mask([257], 15), 0),
          ],
          0,
        );
      }
      check(
        'maskedFill with -Infinity and NaN',
        () => [
          maskedFill(values([7, 65], 16), mask65(), Number.NEGATIVE_INFINITY),
          maskedFill(values([7, 65], 17, 1, 'f16'), mask65(), Number.NaN),
        ],
        0,
      );
    });

    it('reduces over any axes', () => {
      const reductions: [
        string,
        (x: Tensor, axes?: number | number[], keepDims?: boolean) => Tensor,
      ][] = [
        ['sum', (x, axes, keepDims) => sum(x, axes, { keepDims })],
        ['mean', (x, axes, keepDims) => mean(x, axes, { keepDims })],
        ['max', (x, axes, keepDims) => max(x, axes, { keepDims })],
        ['min', (x, axes, keepDims) => min(x, axes, { keepDims })],
        ['logsumexp', (x, axes, keepDims) => logsumexp(x, axes, { keepDims })],
      ];
      for (const [name, f] of reductions) {
        check(`${name} over the last axis`, () => [
          ...SHAPES.filter((s) => s[0]! > 0).map((s, i) => f(values(s, i, 3), -1)),
          f(values([160, 257], 1, 3), -1),
          f(values([3, 1031], 2, 3), 1, true),
        ]);
        check(`${name} over other axes`, () => [
          f(values([4, 5, 6], 3, 3), 0),
          f(values([4, 5, 6], 4, 3), 1, true),
          f(values([4, 5, 6], 5, 3), [0, 2]),
          f(values([4, 5, 6], 6, 3)),
          f(values([257, 160], 7, 3), 0),
          f(values([3, 70, 65], 8, 3), [0, 1]),
          f(values([5, 1, 7], 9, 3), 1),
        ]);
        check(`${name} of views`, () => [
          f(transpose(values([17, 33], 10, 3)), -1),
          f(transpose(values([17, 33], 11, 3)), 0),
          f(slice(values([9, 70], 12, 3), [2, 3], [7, 68]), 1),
          f(broadcastTo(values([1, 65], 13, 3), [7, 65]), 0),
          f(broadcastTo(values([7, 1], 14, 3), [7, 65]), 1),
          f(permute(values([3, 4, 5], 15, 3), [2, 0, 1]), [1, 2]),
        ]);
        check(`${name} of special values`, () => [
          f(specials()),
          f(reshape(specials(), [23, 1]), 1),
          f(
            tensor([
              [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
              [1, Number.POSITIVE_INFINITY],
            ]),
            1,
          ),
        ]);
        check(`${name} (f16, bf16)`, () => [
          f(values([7, 65], 16, 3, 'f16'), 1),
          f(values([7, 65], 17, 3, 'bf16'), 0),
        ]);
      }
      check('empty groups', () => [
        sum(zeros([3, 0]), 1),
        mean(zeros([3, 0]), 1),
        logsumexp(zeros([3, 0]), 1),
        sum(zeros([0, 4]), 1),
      ]);
      check(
        'argmax',
        () => [
          ...SHAPES.filter((s) => s[0]! > 0).map((s, i) => argmax(values(s, i), -1)),
          argmax(values([160, 257], 1), 1),
          argmax(values([4, 5, 6], 2), 0, { keepDims: true }),
          argmax(values([4, 5, 6], 3)),
          argmax(transpose(values([17, 33], 4)), 1),
          argmax(broadcastTo(values([7, 1], 5), [7, 65]), 1),
          argmax(
            tensor([
              [1, 3, 3, 2],
              [0, -0, 0, -1],
              [2, Number.NaN, 5, Number.NaN],
              [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e30, -1e30],
            ]),
            1,
          ),
          argmax(values([7, 65], 6, 1, 'f16'), 1),
        ],
        0,
      );
    });

    it('computes softmax and logSoftmax along any axis', () => {
      for (const [name, f] of [
        ['softmax', softmax],
        ['logSoftmax', logSoftmax],
      ] as const) {
        check(name, () => [
          ...SHAPES.filter((s) => s[0]! > 0).map((s, i) => f(values(s, i, 5))),
          f(values([160, 257], 1, 5)),
          f(values([4, 5, 6], 2, 5), 0),
          f(values([4, 5, 6], 3, 5), 1),
          f(transpose(values([17, 33], 4, 5))),
          f(transpose(values([17, 33], 5, 5)), 0),
          f(broadcastTo(values([1, 65], 6, 5), [7, 65])),
          f(broadcastTo(values([7, 1], 7, 5), [7, 65])),
          f(values([2, 4099], 8, 30)),
          f(
            tensor([
              [1000, 0, -1000],
              [Number.NEGATIVE_INFINITY, 0, 1],
              [Number.NaN, 0, 1],
              [Number.POSITIVE_INFINITY, 0, 1],
            ]),
          ),
          f(tensor([[Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]])),
          f(values([7, 65], 9, 5, 'f16')),
          f(values([7, 65], 10, 5, 'bf16'), 0),
        ]);
      }
    });

    it('normalizes with rmsNorm and layerNorm', () => {
      check('rmsNorm', () => [
        ...SHAPES.filter((s) => s[0]! > 0).map((s, i) =>
          rmsNorm(values(s, i, 3), values([s[s.length - 1]!], i + 20)),
        ),
        rmsNorm(values([160, 257], 1, 3), null),
        rmsNorm(transpose(values([33, 17], 2, 3)), values([33], 3), { eps: 1e-6 }),
        rmsNorm(values([7, 65], 4, 3), broadcastTo(values([1], 5), [65])),
        rmsNorm(values([7, 65], 6, 3, 'f16'), values([65], 7, 1, 'f16')),
        rmsNorm(values([7, 65], 8, 3, 'bf16'), null),
        rmsNorm(zeros([3, 17]), null),
      ]);
      check('layerNorm', () => [
        ...SHAPES.filter((s) => s[0]! > 0).map((s, i) =>
          layerNorm(
            values(s, i, 3),
            values([s[s.length - 1]!], i + 20),
            values([s[s.length - 1]!], i + 40),
          ),
        ),
        layerNorm(values([160, 257], 1, 3), null, null),
        layerNorm(transpose(values([33, 17], 2, 3)), null, values([33], 3), { eps: 1e-3 }),
        layerNorm(add(values([7, 65], 4), 1000), values([65], 5), null),
        layerNorm(broadcastTo(values([65], 6), [7, 65]), values([65], 7), values([65], 8)),
        layerNorm(
          values([7, 65], 9, 3, 'f16'),
          values([65], 10, 1, 'f16'),
          values([65], 11, 1, 'f16'),
        ),
        layerNorm(values([7, 65], 12, 3, 'bf16'), null, null),
        layerNorm(full([3, 17], 2), null, null),
      ]);
    });

    it('applies rotary embeddings, full and partial, on views and per-batch tables', () => {
      check('applyRotary', () => {
        const full64 = rotaryTables([0, 1, 2, 5, 9, 17, 100], 64);
        const part = rotaryTables([3, 4, 5], 20);
        const perBatch = rotaryTables(
          tensor(new Int32Array([3, 4, 5, 7, 8, 9]), { shape: [2, 1, 3] }),
          6,
        );
        return [
          applyRotary(values([2, 3, 7, 64], 1), full64.cos, full64.sin),
          applyRotary(values([1, 2, 3, 34], 2), part.cos, part.sin, { rotaryDim: 20 }),
          applyRotary(permute(values([2, 3, 4, 34], 3), [0, 2, 1, 3]), part.cos, part.sin, {
            rotaryDim: 20,
          }),
          applyRotary(permute(values([2, 3, 4, 10], 4), [0, 2, 1, 3]), perBatch.cos, perBatch.sin, {
            rotaryDim: 6,
          }),
          applyRotary(
            values([2, 4, 3, 7], 5),
            transpose(values([2, 1, 6, 3], 6)),
            transpose(values([2, 1, 6, 3], 7)),
            { rotaryDim: 6 },
          ),
          applyRotary(values([4, 40, 7, 64], 7), full64.cos, full64.sin),
        ];
      });
      check('applyRotary (f16, bf16)', () => {
        const f16 = rotaryTables([0, 1, 2, 5, 9], 16, { dtype: 'f16' });
        const bf16 = rotaryTables([0, 1, 2, 5, 9], 16, { dtype: 'bf16' });
        return [
          applyRotary(values([2, 3, 5, 16], 1, 1, 'f16'), f16.cos, f16.sin),
          applyRotary(values([2, 3, 5, 24], 2, 1, 'bf16'), bf16.cos, bf16.sin, { rotaryDim: 16 }),
        ];
      });
    });

    it('computes attention: decode and prefill, grouped-query, causal with a cache offset, masks', () => {
      check('scaledDotProductAttention', () => {
        const padding = tensor(
          Float32Array.from({ length: 2 * 37 }, (_, i) =>
            i < 37 && i % 37 < 5 ? Number.NEGATIVE_INFINITY : 0,
          ),
          { shape: [2, 1, 1, 37] },
        );
        const hideAll = full([1, 1, 3, 9], Number.NEGATIVE_INFINITY);
        return [
          // Decode: one query over a cache, grouped heads, padding mask.
          scaledDotProductAttention(
            values([2, 8, 1, 64], 1),
            values([2, 2, 37, 64], 2),
            values([2, 2, 37, 64], 3),
            { causal: true, mask: padding },
          ),
          // Prefill, causal, grouped, odd head dims.
          scaledDotProductAttention(
            values([2, 6, 17, 20], 4),
            values([2, 3, 17, 20], 5),
            values([2, 3, 17, 12], 6),
            { causal: true },
          ),
          // Chunked prefill: more keys than queries.
          scaledDotProductAttention(
            values([1, 4, 5, 33], 7),
            values([1, 4, 13, 33], 8),
            values([1, 4, 13, 33], 9),
            { causal: true },
          ),
          // More queries than keys: the first rows see nothing.
          scaledDotProductAttention(
            values([1, 2, 5, 4], 10),
            values([1, 2, 3, 4], 11),
            values([1, 2, 3, 4], 12),
            { causal: true },
          ),
          // Non-causal, custom scale, strided k and v, a broadcast additive mask.
          scaledDotProductAttention(
            values([1, 3, 4, 16], 13),
            permute(values([1, 9, 3, 16], 14), [0, 2, 1, 3]),
            transpose(values([1, 3, 16, 9], 15)),
            { scale: 0.3, mask: values([4, 9], 16) },
          ),
          // A mask hiding every key of every row.
          scaledDotProductAttention(
            values([1, 2, 3, 8], 17),
            values([1, 2, 9, 8], 18),
            values([1, 2, 9, 8], 19),
            { mask: hideAll },
          ),
          // Prefill blocks of 16 query rows with an additive mask and a partial last block.
          scaledDotProductAttention(
            values([1, 2, 20, 16], 26),
            values([1, 2, 23, 16], 27),
            values([1, 2, 23, 8], 28),
            { mask: values([20, 23], 29) },
          ),
          // Large enough for both threads.
          scaledDotProductAttention(
            values([2, 4, 70, 32], 20),
            values([2, 2, 70, 32], 21),
            values([2, 2, 70, 32], 22),
            { causal: true },
          ),
          // Empty.
          scaledDotProductAttention(
            values([1, 2, 0, 8], 23),
            values([1, 2, 0, 8], 24),
            values([1, 2, 0, 8], 25),
          ),
        ];
      });
      check('scaledDotProductAttention (f16, bf16)', () => [
        scaledDotProductAttention(
          values([1, 4, 6, 16], 1, 1, 'f16'),
          values([1, 2, 9, 16], 2, 1, 'f16'),
          values([1, 2, 9, 16], 3, 1, 'f16'),
          { causal: true },
        ),
        scaledDotProductAttention(
          values([1, 2, 1, 16], 4, 1, 'bf16'),
          values([1, 2, 9, 16], 5, 1, 'bf16'),
          values([1, 2, 9, 16], 6, 1, 'bf16'),
          { mask: values([1, 9], 7, 1, 'bf16') },
        ),
      ]);
    });

    it('computes cross-entropy with every reduction, ignored targets and strided logits', () => {
      const targets = (count: number, classes: number, seed: number) =>
        tensor(
          Int32Array.from({ length: count }, (_, i) =>
            i % 5 === 3 ? -100 : (i * 7 + seed) % classes,
          ),
        );
      check('crossEntropy', () => {
        const logits = values([40, 1031], 1, 4);
        const labels = targets(40, 1031, 2);
        return [
          crossEntropy(logits, labels),
          crossEntropy(logits, labels, { reduction: 'sum' }),
          crossEntropy(logits, labels, { reduction: 'none' }),
          crossEntropy(transpose(values([7, 5], 3)), targets(5, 7, 4), { reduction: 'none' }),
          crossEntropy(slice(values([4, 9], 5), [0, 2]), tensor(new Int32Array([0, 4, 6, 2])), {
            ignoreIndex: 0,
          }),
          crossEntropy(values([3, 7], 6), tensor(new Int32Array([-100, -100, -100]))),
          crossEntropy(values([2, 3, 7], 7, 1, 'f16'), reshape(targets(6, 7, 8), [2, 3]), {
            reduction: 'none',
          }),
          crossEntropy(values([6, 7], 9, 1, 'bf16'), targets(6, 7, 10)),
          crossEntropy(
            tensor([
              [1000, 0, -1000],
              [Number.NaN, 0, 1],
            ]),
            tensor(new Int32Array([2, 1])),
            { reduction: 'none' },
          ),
        ];
      });
      const outOfRange = (backend: string) =>
        withBackend(backend, () => {
          try {
            scope(() => crossEntropy(values([4, 5], 11), tensor(new Int32Array([1, -100, 5, 0]))));
          } catch (error) {
            return (error as Error).message;
          }
          return 'no error';
        });
      expect(outOfRange(CPU)).toBe(outOfRange('reference'));
      expect(outOfRange(CPU)).toMatch(/target 5 at position 2 is out of range for 5 classes/);
    });

    it('concatenates, gathers and scatter-adds', () => {
      for (const dtype of ['f32', 'f16', 'i32', 'u8'] as DType[]) {
        const make = (shape: readonly number[], seed: number) =>
          cast(values(shape, seed, 50), dtype);
        const indices = (count: number, dim: number, seed: number) =>
          tensor(Int32Array.from({ length: count }, (_, i) => (i * 7 + seed) % dim));
        check(
          `concat and gather (${dtype})`,
          () => [
            concat(
              [make([2, 3, 4], 1), transpose(make([2, 4, 1], 2), 1, 2), make([2, 2, 4], 3)],
              1,
            ),
            concat([make([1031], 4), make([0], 5), make([7], 6)]),
            concat([broadcastTo(make([1, 65], 7), [3, 65]), make([4, 65], 8)], 0),
            gather(make([50, 33], 9), indices(17, 50, 1)),
            gather(transpose(make([33, 50], 10)), indices(7, 50, 2)),
            gather(make([3, 6, 5], 11), reshape(indices(8, 6, 3), [2, 4]), 1),
            gather(make([3, 6, 5], 12), indices(9, 5, 4), 2),
            gather(make([1000, 300], 13), indices(150, 1000, 5)),
            gather(make([4, 5], 14), tensor(new Int32Array(0))),
          ],
          0,
        );
      }
      check('scatterAdd', () => {
        const repeated = tensor(new Int32Array([1, 2, 1, 0, 1]));
        return [
          scatterAdd(values([4, 3], 1), repeated, values([5, 3], 2)),
          scatterAdd(values([4, 3], 3), repeated, values([4, 5], 4), 1),
          scatterAdd(transpose(values([3, 4], 5)), repeated, transpose(values([3, 5], 6))),
          scatterAdd(
            zeros([1000, 65]),
            tensor(Int32Array.from({ length: 600 }, (_, i) => (i * 13) % 1000)),
            values([600, 65], 7),
          ),
          scatterAdd(values([4, 3], 8, 1, 'f16'), repeated, values([5, 3], 9, 1, 'f16')),
        ];
      });
    });

    it('runs the gradients of a small transformer block like the reference', () => {
      check(
        'gradients',
        () => {
          const x = values([2, 5, 16], 1);
          const weight = values([16], 2);
          const bias = values([16], 3);
          const projection = values([48, 16], 4);
          const head = values([11, 16], 5);
          const embeddings = values([11, 16], 6);
          for (const t of [x, weight, bias, projection, head, embeddings]) t.requiresGrad = true;
          const ids = tensor(new Int32Array([1, 4, 2, 9, 10, 0, 3, 3, 7, 5]), { shape: [2, 5] });
          const { cos, sin } = rotaryTables([0, 1, 2, 3, 4], 8);
          const h = add(x, gather(embeddings, ids));
          const normed = layerNorm(h, weight, bias);
          const qkv = reshape(linear(normed, projection), [2, 5, 3, 2, 8]);
          const part = (i: number) =>
            permute(slice(qkv, [0, 0, i, 0, 0], [2, 5, i + 1, 2, 8]), [0, 3, 1, 2, 4]);
          const [q, k, v] = [0, 1, 2].map((i) => reshape(part(i), [2, 2, 5, 8])) as [
            Tensor,
            Tensor,
            Tensor,
          ];
          const attended = scaledDotProductAttention(
            applyRotary(q, cos, sin),
            applyRotary(k, cos, sin),
            v,
            { causal: true },
          );
          const merged = reshape(permute(attended, [0, 2, 1, 3]), [2, 5, 16]);
          const out = rmsNorm(add(h, gelu(merged)), weight);
          const logits = matmul(silu(out), transpose(head));
          const loss = add(crossEntropy(logits, ids), mean(softmax(logits)));
          return grad(loss, [x, weight, bias, projection, head, embeddings]) as Tensor[];
        },
        { f32: 1e-4 },
      );
    });

    it('passes the conformance suite', () => {
      const failures = runConformance(CPU).filter((r) => r.status === 'fail');
      expect(failures).toEqual([]);
    });
  },
);

describe.runIf(available)('op memory', () => {
  it('leaks nothing, halves and fallbacks to the reference included', () => {
    const before = memory(CPU);
    withBackend(CPU, () =>
      scope(() => {
        const x = values([7, 65], 1);
        const h = cast(x, 'f16');
        softmax(h);
        layerNorm(h, null, null);
        sum(h, 0);
        crossEntropy(values([3, 5], 2), tensor(new Int32Array([1, 2, 3])));
        scaledDotProductAttention(
          values([1, 2, 3, 8], 3, 1, 'bf16'),
          values([1, 2, 3, 8], 4, 1, 'bf16'),
          values([1, 2, 3, 8], 5, 1, 'bf16'),
        );
        sum(cast(x, 'i32'));
        where(greater(x, 0), x, -1);
      }),
    );
    expect(memory(CPU).tensors).toBe(before.tensors);
    expect(memory(CPU).bytes).toBe(before.bytes);
  });
});

function mask65(): Tensor {
  return greater(values([65], 99), 0.5);
}
