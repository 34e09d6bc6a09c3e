import {
  abs,
  broadcastShapes,
  broadcastTo,
  cast,
  type DType,
  keep,
  linear,
  matmul,
  memory,
  permute,
  resetPeakBytes,
  runKernel1,
  SlimlmError,
  scope,
  slice,
  squeeze,
  type Tensor,
  tensor,
  transpose,
  withBackend,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
import { describe, expect, it } from 'vitest';
import { available, CPU, setIsa, setThreads } from '../src/index';
import { matmulAsync } from '../src/kernels/matmul';
import { isas, restoreIsaAndThreadsAfterAll } from './isa-paths';

const REFERENCE = 'reference';

restoreIsaAndThreadsAfterAll();

/** Makes a base tensor of `shape` on a backend; views of it are taken by the case itself. */
type Make = (shape: number[], seed: number) => Tensor;

/** A product to check: two operands built from base tensors, possibly views of them. */
type Case = [name: string, operands: (make: Make) => [Tensor, Tensor]];

function maker(backend: string, dtype: DType): Make {
  return (shape, seed) => {
    const values = withBackend(REFERENCE, () => sample(shape, seed).dataSync());
    return tensor(values, { shape, dtype, backend });
  };
}

/**
 * a @ b for operands of rank >= 2 through the backend's matmul kernel, operands as they are.
 * (core's matmul() reshapes its operands, which copies any non-contiguous one: the kernel would
 * then never see a transposed or strided view.)
 */
function product(a: Tensor, b: Tensor): Tensor {
  return scope(() => {
    const [m, k] = a.shape.slice(-2) as [number, number];
    const n = b.shape[b.rank - 1]!;
    const batch = broadcastShapes('product', a.shape.slice(0, -2), b.shape.slice(0, -2));
    const left = broadcastTo(a, [...batch, m, k]);
    const right = broadcastTo(b, [...batch, k, n]);
    return runKernel1('matmul', [left, right], {}, { shape: [...batch, m, n], dtype: a.dtype });
  });
}

/**
 * Max |actual - expected| / (1 + scale), where scale = |a| @ |b| is the sum of the magnitudes of
 * the terms. f32 accumulation error grows with the terms, not with the result: a sum of a
 * thousand terms that cancels to ~0 is off by ~1e-5 in any f32 GEMM (OpenBLAS's included), which
 * an error relative to the result alone would flag. A term dropped or counted twice still shows
 * as an error orders of magnitude above the tolerance.
 */
function relativeError(actual: Tensor, expected: Tensor, scale: Tensor): number {
  const a = actual.dataSync();
  const e = expected.dataSync();
  const s = scale.dataSync();
  expect(a.length).toBe(e.length);
  let worst = 0;
  for (let i = 0; i < e.length; i++)
    worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / (1 + Math.abs(s[i]!)));
  return worst;
}

// f16/bf16 results are rounded once; f32 accumulation can land them one step from the reference.
const TOLERANCE: Record<string, number> = { f32: 1e-5, f16: 2e-3, bf16: 1.6e-2 };

/** The same product on the reference backend and on "cpu", operands built the same way on each. */
function expectMatches(operands: Case[1], dtype: DType = 'f32'): void {
  scope(() => {
    const [a, b] = withBackend(REFERENCE, () => operands(maker(REFERENCE, dtype)));
    const expected = withBackend(REFERENCE, () => product(a, b));
    const scale = withBackend(REFERENCE, () => product(abs(a), abs(b)));
    const actual = withBackend(CPU, () => product(...operands(maker(CPU, dtype))));
    expect(expected.backend.name).toBe(REFERENCE);
    expect(actual.backend.name).toBe(CPU);
    expect(actual.dtype).toBe(dtype);
    expect(actual.shape).toEqual(expected.shape);
    expect(relativeError(actual, expected, scale)).toBeLessThanOrEqual(TOLERANCE[dtype]!);
  });
}

/**
 * Makes the first operand f32 and every later one `dtype`: each case builds A first and B after,
 * one base tensor each, so this turns any case into f32 activations times an f16/bf16 weight.
 */
function mixedMaker(backend: string, dtype: DType): Make {
  const f32 = maker(backend, 'f32');
  const narrow = maker(backend, dtype);
  let calls = 0;
  return (shape, seed) => (calls++ === 0 ? f32 : narrow)(shape, seed);
}

/**
 * f32 A times an f16/bf16 B on "cpu" against the reference backend, which computes exactly what
 * casting B to f32 first gives: the result is f32 and within f32 GEMM tolerance.
 */
function expectMixedMatches(operands: Case[1], dtype: 'f16' | 'bf16'): void {
  scope(() => {
    const [a, b] = withBackend(REFERENCE, () => operands(mixedMaker(REFERENCE, dtype)));
    expect([a.dtype, b.dtype]).toEqual(['f32', dtype]);
    const expected = withBackend(REFERENCE, () => product(a, b));
    const scale = withBackend(REFERENCE, () => product(abs(a), abs(b)));
    const actual = withBackend(CPU, () => product(...operands(mixedMaker(CPU, dtype))));
    expect(actual.backend.name).toBe(CPU);
    expect(actual.dtype).toBe('f32');
    expect(actual.shape).toEqual(expected.shape);
    expect(relativeError(actual, expected, scale)).toBeLessThanOrEqual(TOLERANCE.f32!);
  });
}

const ODD = [1, 3, 7, 17, 31, 33, 63, 65, 129];

/** [m, k, n] triples: every odd size on each axis, and sizes that cross the kernels' blocks. */
const SHAPES: [number, number, number][] = [
  ...ODD.map((d): [number, number, number] => [d, d, d]),
  ...ODD.map((d): [number, number, number] => [d, 33, 65]),
  ...ODD.map((d): [number, number, number] => [17, d, 31]),
  ...ODD.map((d): [number, number, number] => [13, 63, d]),
  [5, 1, 300],
  [25, 513, 40], // K just past one K block
  [30, 1100, 70], // several K blocks
  [14, 20, 1100], // several column blocks
  [1100, 1600, 20], // several M blocks (packed A is bounded)
];

const LAYOUTS: Case[] = [
  [
    'transposed A (A^T view of [k, m])',
    (make) => [transpose(make([45, 26], 1)), make([45, 33], 2)],
  ],
  ['transposed B (x @ W^T, W [n, k])', (make) => [make([26, 45], 3), transpose(make([35, 45], 4))]],
  ['both transposed', (make) => [transpose(make([19, 9], 5)), transpose(make([70, 19], 6))]],
  [
    'sliced views with offsets and row gaps',
    (make) => [
      slice(make([40, 50], 7), [3, 5], [30, 45]),
      slice(make([60, 80], 8), [10, 7], [50, 66]),
    ],
  ],
  [
    'column stride 2 on both operands',
    (make) => [
      squeeze(slice(make([20, 30, 2], 9), [0, 0, 1], [20, 30, 2]), 2),
      squeeze(slice(make([30, 45, 2], 10), [0, 0, 0], [30, 45, 1]), 2),
    ],
  ],
  [
    'stride-0 rows and columns (broadcast inside the matrices)',
    (make) => [broadcastTo(make([1, 40], 11), [9, 40]), broadcastTo(make([40, 1], 12), [40, 37])],
  ],
  ['batched, contiguous', (make) => [make([6, 17, 33], 13), make([6, 33, 20], 14)]],
  [
    'batched with a broadcast (stride-0) batch',
    (make) => [broadcastTo(make([23, 16], 15), [3, 23, 16]), make([3, 16, 24], 16)],
  ],
  [
    'batch axes broadcast against each other',
    (make) => [make([2, 1, 6, 10], 17), transpose(make([4, 3, 10], 18))],
  ],
  [
    'batch axes that do not collapse (permuted)',
    (make) => [permute(make([7, 3, 2, 5], 19), [1, 2, 0, 3]), make([3, 2, 5, 4], 20)],
  ],
  ['big batch of tiny matrices', (make) => [make([64, 3, 5], 21), make([64, 5, 2], 22)]],
  ['K = 0', (make) => [make([5, 0], 23), make([0, 3], 24)]],
  ['M = 0', (make) => [make([0, 7], 25), make([7, 3], 26)]],
  ['N = 0', (make) => [make([4, 7], 27), make([7, 0], 28)]],
  ['empty batch', (make) => [make([0, 4, 7], 29), make([0, 7, 3], 30)]],
];

/** One to four rows of A against a weight, in both layouts the GEMV kernels stream. */
const GEMV: Case[] = [];
for (const m of [1, 2, 3, 4]) {
  for (const [k, n] of [
    [1, 9],
    [15, 33],
    [16, 8],
    [17, 100],
    [1000, 37],
    [300, 301],
  ] as const) {
    GEMV.push([
      `m=${m}, W^T with W [${n}, ${k}]`,
      (make) => [make([m, k], m * 100 + k), transpose(make([n, k], n))],
    ]);
    GEMV.push([`m=${m}, B [${k}, ${n}]`, (make) => [make([m, k], m * 100 + k), make([k, n], n)]]);
  }
}
for (const [m, n, k] of [
  [5, 13, 2100],
  [11, 9, 1030],
  [32, 20, 1500],
  [33, 7, 300],
  [64, 5, 200],
]) {
  GEMV.push([
    `skinny m=${m}, W^T with W [${n}, ${k}]`,
    (make) => [make([m!, k!], m! + k!), transpose(make([n!, k!], n! + 1))],
  ]);
}
GEMV.push([
  'one row of a transposed view (m=1, A column stride != 1)',
  (make) => [transpose(make([50, 1], 40)), transpose(make([70, 50], 41))],
]);
GEMV.push([
  'batched decode: [heads, 1, d] @ [heads, d, keys]^T view',
  (make) => [make([4, 1, 64], 42), transpose(make([4, 90, 64], 43))],
]);
GEMV.push([
  'a weight with column stride 0 (neither layout: packed path)',
  (make) => [make([2, 30], 44), broadcastTo(make([30, 1], 45), [30, 20])],
]);

describe.runIf(available).each(isas)('gemm on the %s path', (isa) => {
  describe.each([1, 2])('with %i thread(s)', (threads) => {
    const setup = () => {
      setIsa(isa);
      setThreads(threads);
    };

    it('matches the reference on odd and block-crossing shapes', () => {
      setup();
      for (const [m, k, n] of SHAPES) {
        expectMatches((make) => [make([m, k], m + k), make([k, n], k + n)]);
      }
    });

    it.each(LAYOUTS)('matches the reference with %s', (_name, operands) => {
      setup();
      expectMatches(operands);
    });

    it.each(GEMV)('GEMV: %s', (_name, operands) => {
      setup();
      expectMatches(operands);
    });

    it('serves core matmul, vectors and linear() layouts included', () => {
      setup();
      const cases: Case[1][] = [
        (make) => [make([40], 70), make([40, 9], 71)],
        (make) => [make([5, 40], 72), make([40], 73)],
        (make) => [make([3, 5, 40], 74), transpose(make([12, 40], 75))],
      ];
      for (const operands of cases) {
        scope(() => {
          const [a, b] = withBackend(REFERENCE, () => operands(maker(REFERENCE, 'f32')));
          const expected = withBackend(REFERENCE, () => matmul(a, b));
          const scale = withBackend(REFERENCE, () => matmul(abs(a), abs(b)));
          const actual = withBackend(CPU, () => matmul(...operands(maker(CPU, 'f32'))));
          expect(actual.backend.name).toBe(CPU);
          expect(actual.shape).toEqual(expected.shape);
          expect(relativeError(actual, expected, scale)).toBeLessThanOrEqual(1e-5);
        });
      }
    });

    describe.each(['f16', 'bf16'] as const)('f32 activations by %s weights', (dtype) => {
      it('match the reference on odd and block-crossing shapes', () => {
        setup();
        for (const [m, k, n] of SHAPES) {
          expectMixedMatches((make) => [make([m, k], m + k), make([k, n], k + n)], dtype);
        }
      });

      it('match the reference in every layout and on every GEMV path', () => {
        setup();
        for (const [, operands] of [...LAYOUTS, ...GEMV]) expectMixedMatches(operands, dtype);
      });

      it('serve core matmul and linear without a copy of the weight', () => {
        setup();
        scope(() => {
          const x = maker(CPU, 'f32')([3, 2, 67], 90);
          const weight = maker(CPU, dtype)([45, 67], 91);
          resetPeakBytes(CPU);
          const before = memory(CPU).bytes;
          const y = linear(x, weight);
          // Only the output is allocated: no f32 copy of the weight, not even a transient one.
          expect(memory(CPU).peakBytes - before).toBe(y.size * 4);
          const expected = withBackend(REFERENCE, () =>
            linear(
              maker(REFERENCE, 'f32')([3, 2, 67], 90),
              cast(maker(REFERENCE, dtype)([45, 67], 91), 'f32'),
            ),
          );
          expect(y.dtype).toBe('f32');
          const actual = y.dataSync();
          const wanted = expected.dataSync();
          for (let i = 0; i < wanted.length; i++)
            expect(Math.abs(actual[i]! - wanted[i]!)).toBeLessThanOrEqual(
              1e-5 * (1 + Math.abs(wanted[i]!)),
            );
        });
      });
    });

    it.each(['f16', 'bf16'] as const)('reads and writes %s', (dtype) => {
      setup();
      expectMatches((make) => [make([9, 37], 50), make([37, 11], 51)], dtype);
      expectMatches((make) => [make([20, 500], 52), transpose(make([40, 500], 53))], dtype);
      expectMatches((make) => [transpose(make([33, 13], 54)), make([33, 70], 55)], dtype);
      expectMatches((make) => [make([3, 16, 40], 56), make([3, 40, 7], 57)], dtype);
      for (const m of [5, 40, 64, 65]) {
        expectMatches((make) => [make([m, 1100], 62), transpose(make([30, 1100], 63))], dtype);
      }
      for (const m of [1, 2, 3, 4]) {
        expectMatches((make) => [make([m, 130], 58), transpose(make([77, 130], 59))], dtype);
        expectMatches((make) => [make([m, 130], 60), make([130, 77], 61)], dtype);
      }
    });
  });
});

describe.runIf(available)('matmulAsync', () => {
  const onCpu = (shape: number[], seed: number, dtype: DType = 'f32') =>
    maker(CPU, dtype)(shape, seed);

  it('resolves with the product matmul computes, on every path', async () => {
    for (const isa of isas) {
      setIsa(isa);
      const cases: [Tensor, Tensor][] = [
        [onCpu([70, 90], 1), onCpu([90, 50], 2)],
        [onCpu([1, 256], 3), transpose(onCpu([300, 256], 4))],
        [broadcastTo(onCpu([8, 16], 5), [3, 8, 16]), onCpu([3, 16, 24], 6)],
        [permute(onCpu([7, 3, 2, 5], 7), [1, 2, 0, 3]), onCpu([3, 2, 5, 4], 8)],
        [onCpu([2, 1, 6, 10], 9), transpose(onCpu([4, 3, 10], 10))],
        [onCpu([5, 40], 11, 'f16'), onCpu([40, 6], 12, 'f16')],
        [onCpu([5, 40], 13, 'bf16'), transpose(onCpu([6, 40], 14, 'bf16'))],
        [onCpu([1, 64], 15), transpose(onCpu([30, 64], 16, 'f16'))],
        [onCpu([40, 64], 17), transpose(onCpu([30, 64], 18, 'bf16'))],
      ];
      for (const [a, b] of cases) {
        const expected = product(a, b);
        const actual = await matmulAsync(a, b);
        expect(actual.backend.name).toBe(CPU);
        expect(actual.dtype).toBe(a.dtype);
        expect(actual.shape).toEqual(expected.shape);
        expect(Array.from(actual.dataSync())).toEqual(Array.from(expected.dataSync()));
        for (const t of [a, b, expected, actual]) t.dispose();
      }
    }
  });

  it('runs several products at once, and other dtypes through matmul', async () => {
    const a = onCpu([200, 300], 20);
    const b = onCpu([300, 100], 21);
    const results = await Promise.all([matmulAsync(a, b), matmulAsync(a, b), matmulAsync(a, b)]);
    const expected = product(a, b);
    for (const r of results)
      expect(Array.from(r.dataSync())).toEqual(Array.from(expected.dataSync()));
    const ints = tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3], dtype: 'i32', backend: CPU });
    const integers = await matmulAsync(ints, transpose(ints));
    expect(integers.toArray()).toEqual([
      [14, 32],
      [32, 77],
    ]);
    for (const t of [a, b, expected, ints, integers, ...results]) t.dispose();
  });

  it('validates its operands like matmul, synchronously', () => {
    scope(() => {
      const a = onCpu([2, 3], 30);
      const codeOf = (fn: () => unknown) => {
        try {
          fn();
        } catch (error) {
          expect(error).toBeInstanceOf(SlimlmError);
          return (error as SlimlmError).code;
        }
        return 'no error';
      };
      expect(codeOf(() => matmulAsync(a, onCpu([4, 5], 31)))).toBe('SHAPE_MISMATCH');
      expect(codeOf(() => matmulAsync(onCpu([2, 3], 32, 'f16'), onCpu([3, 2], 32)))).toBe(
        'DTYPE_MISMATCH',
      );
      expect(codeOf(() => matmulAsync(a, onCpu([3], 33)))).toBe('SHAPE_MISMATCH');
      expect(codeOf(() => matmulAsync(onCpu([2, 2, 3], 34), onCpu([3, 3, 4], 35)))).toBe(
        'SHAPE_MISMATCH',
      );
      const elsewhere = withBackend(REFERENCE, () => sample([3, 2], 36));
      expect(codeOf(() => matmulAsync(a, elsewhere))).toBe('BACKEND_MISMATCH');
      const disposed = onCpu([3, 2], 37);
      disposed.dispose();
      expect(codeOf(() => matmulAsync(a, disposed))).toBe('DISPOSED');
      const trained = onCpu([3, 2], 38);
      trained.requiresGrad = true;
      expect(codeOf(() => matmulAsync(a, trained))).toBe('AUTOGRAD');
    });
  });

  it('returns a tensor outside any scope, which its owner disposes', async () => {
    const before = memory(CPU);
    const [a, b] = scope(() => [keep(onCpu([30, 40], 40)), keep(onCpu([40, 50], 41))]);
    // A scope that closes while the product is pending must not take the result with it.
    let pending: Promise<Tensor> | undefined;
    scope(() => {
      pending = matmulAsync(a, b);
    });
    const product = await pending!;
    expect(product.isDisposed).toBe(false);
    expect(memory(CPU).tensors).toBe(before.tensors + 3);
    for (const t of [a, b, product]) t.dispose();
    expect(memory(CPU).tensors).toBe(before.tensors);
    expect(memory(CPU).bytes).toBe(before.bytes);
  });
});

describe.runIf(available)('memory', () => {
  it('leaks no tensors or bytes across every path', async () => {
    const before = memory(CPU);
    for (const isa of isas) {
      setIsa(isa);
      for (const threads of [1, 2]) {
        setThreads(threads);
        for (const [, operands] of [...LAYOUTS, ...GEMV.slice(0, 4)]) {
          withBackend(CPU, () =>
            scope(() => {
              product(...operands(maker(CPU, 'f32')));
            }),
          );
        }
        const [a, b] = scope(() => [
          keep(maker(CPU, 'f16')([9, 40], 1)),
          keep(maker(CPU, 'f16')([40, 7], 2)),
        ]);
        (await matmulAsync(a, b)).dispose();
        a.dispose();
        b.dispose();
      }
    }
    expect(memory(CPU).tensors).toBe(before.tensors);
    expect(memory(CPU).bytes).toBe(before.bytes);
  });
});
