import { describe, expect, it } from 'vitest';
import {
  backward,
  cholesky,
  choleskyInverse,
  matmul,
  SlimlmError,
  scope,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { normalValues } from './helpers';

/** A random SPD f64 matrix B Bᵀ + n I as row-major values. */
function spdValues(n: number, seed: number): Float64Array {
  const b = normalValues(n * n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[i * n + k]! * b[j * n + k]!;
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
    a[i * n + i]! += n;
  }
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Elements strictly above (upper: below) the diagonal. */
function otherTriangle(t: Tensor, upper: boolean): number[] {
  const n = t.shape[0]!;
  const v = t.dataSync();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (upper ? j < i : j > i) out.push(v[i * n + j]!);
  }
  return out;
}

const TEXTBOOK = [
  [4, 12, -16],
  [12, 37, -43],
  [-16, -43, 98],
];

describe('cholesky', () => {
  it('factors the textbook matrix exactly, lower and upper', () => {
    scope(() => {
      const a = tensor(Float64Array.from(TEXTBOOK.flat()), { shape: [3, 3] });
      expect(Array.from(cholesky(a).dataSync())).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]);
      expect(Array.from(cholesky(a, { upper: true }).dataSync())).toEqual([
        2, 6, -8, 0, 1, 5, 0, 0, 3,
      ]);
      const f32 = cholesky(tensor(TEXTBOOK));
      expect(f32.dtype).toBe('f32');
      expect(Array.from(f32.dataSync())).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]);
    });
  });

  it('reconstructs random SPD matrices: L Lᵀ = A and Uᵀ U = A, zeros in the other triangle', () => {
    scope(() => {
      for (const n of [1, 2, 7, 33]) {
        const values = spdValues(n, n);
        const a = tensor(values, { shape: [n, n] });
        const l = cholesky(a);
        const u = cholesky(a, { upper: true });
        expect(otherTriangle(l, false).every((v) => v === 0)).toBe(true);
        expect(otherTriangle(u, true).every((v) => v === 0)).toBe(true);
        expect(maxAbsDiff(u.dataSync(), transpose(l).dataSync())).toBe(0);
        const scale = maxAbs(values);
        expect(maxAbsDiff(matmul(l, transpose(l)).dataSync(), values)).toBeLessThan(1e-13 * scale);
        expect(maxAbsDiff(matmul(transpose(u), u).dataSync(), values)).toBeLessThan(1e-13 * scale);
        // f32: the f64 result rounded once.
        const l32 = cholesky(tensor(Float32Array.from(values), { shape: [n, n] }));
        expect(maxAbsDiff(l32.dataSync(), Float32Array.from(l.dataSync()))).toBeLessThan(
          1e-5 * maxAbs(l.dataSync()),
        );
      }
    });
  });

  it('reads only the factor side triangle of the input', () => {
    scope(() => {
      const n = 5;
      const values = spdValues(n, 9);
      const lowerOnly = values.map((v, i) => (i % n <= Math.floor(i / n) ? v : 1e9));
      const upperOnly = values.map((v, i) => (i % n >= Math.floor(i / n) ? v : -1e9));
      const l = cholesky(tensor(values, { shape: [n, n] }));
      const fromLower = cholesky(tensor(lowerOnly, { shape: [n, n] }));
      const fromUpper = cholesky(tensor(upperOnly, { shape: [n, n] }), { upper: true });
      expect(Array.from(fromLower.dataSync())).toEqual(Array.from(l.dataSync()));
      expect(Array.from(fromUpper.dataSync())).toEqual(Array.from(transpose(l).dataSync()));
      // A transposed view: the lower triangle of the view is the upper one of the storage.
      const viewed = cholesky(transpose(tensor(upperOnly, { shape: [n, n] })));
      expect(Array.from(viewed.dataSync())).toEqual(Array.from(l.dataSync()));
    });
  });

  it('handles the empty matrix', () => {
    scope(() => {
      expect(cholesky(tensor(new Float64Array(0), { shape: [0, 0] })).shape).toEqual([0, 0]);
      expect(choleskyInverse(tensor(new Float32Array(0), { shape: [0, 0] })).shape).toEqual([0, 0]);
    });
  });

  it('throws NUMERICAL naming the pivot for a matrix that is not positive definite', () => {
    scope(() => {
      const indefinite = tensor([
        [1, 2],
        [2, 1],
      ]);
      const error = (() => {
        try {
          cholesky(indefinite);
        } catch (e) {
          return e;
        }
      })() as SlimlmError;
      expect(error).toBeInstanceOf(SlimlmError);
      expect(error.code).toBe('NUMERICAL');
      expect(error.message).toBe(
        'cholesky: the matrix is not positive definite (pivot k = 1, value -3); add damping to its diagonal',
      );
      // Singular (a zero pivot), negative first pivot, NaN.
      for (const [values, pivot] of [
        [[1, 1, 1, 1], 1],
        [[-1, 0, 0, 1], 0],
        [[Number.NaN, 0, 0, 1], 0],
      ] as const) {
        expect(() => cholesky(tensor([...values], { shape: [2, 2], dtype: 'f64' }))).toThrow(
          new RegExp(`^cholesky: the matrix is not positive definite \\(pivot k = ${pivot},`),
        );
      }
    });
  });

  it('validates shape and dtype', () => {
    scope(() => {
      const expectCode = (fn: () => unknown, code: string, message: RegExp) => {
        try {
          fn();
        } catch (e) {
          expect((e as SlimlmError).code).toBe(code);
          expect((e as Error).message).toMatch(message);
          return;
        }
        throw new Error('expected an error');
      };
      for (const op of [cholesky, choleskyInverse]) {
        expectCode(
          () => op(tensor([[1, 2, 3]])),
          'SHAPE_MISMATCH',
          /must be a square matrix \[n, n\], got \[1, 3\]/,
        );
        expectCode(() => op(tensor([1, 2])), 'SHAPE_MISMATCH', /got \[2\]/);
        expectCode(
          () => op(tensor(new Float32Array(8), { shape: [2, 2, 2] })),
          'SHAPE_MISMATCH',
          /got \[2, 2, 2\]/,
        );
        expectCode(
          () => op(tensor(Int32Array.from([1, 0, 0, 1]), { shape: [2, 2] })),
          'DTYPE_MISMATCH',
          /must be f32 or f64, got i32/,
        );
      }
    });
  });

  it('has no gradient: backward through it says so', () => {
    scope(() => {
      const a = tensor(Float64Array.from(TEXTBOOK.flat()), { shape: [3, 3] });
      a.requiresGrad = true;
      expect(() => backward(sum(cholesky(a)))).toThrow(
        "backward: op 'cholesky' has no registered gradient",
      );
      expect(() => backward(sum(choleskyInverse(a)))).toThrow(
        "backward: op 'choleskyInverse' has no registered gradient",
      );
    });
  });
});

describe('choleskyInverse', () => {
  it('inverts from lower and upper factors: symmetric, A A⁻¹ = I', () => {
    scope(() => {
      for (const n of [1, 3, 8, 40]) {
        const values = spdValues(n, 100 + n);
        const a = tensor(values, { shape: [n, n] });
        const inverse = choleskyInverse(cholesky(a));
        const fromUpper = choleskyInverse(cholesky(a, { upper: true }), { upper: true });
        expect(maxAbsDiff(inverse.dataSync(), fromUpper.dataSync())).toBe(0);
        expect(maxAbsDiff(inverse.dataSync(), transpose(inverse).dataSync())).toBe(0);
        const identity = new Float64Array(n * n);
        for (let i = 0; i < n; i++) identity[i * n + i] = 1;
        expect(maxAbsDiff(matmul(a, inverse).dataSync(), identity)).toBeLessThan(1e-12);
        const inverse32 = choleskyInverse(
          cholesky(tensor(Float32Array.from(values), { shape: [n, n] })),
        );
        expect(inverse32.dtype).toBe('f32');
        expect(maxAbsDiff(inverse32.dataSync(), inverse.dataSync())).toBeLessThan(
          1e-5 * maxAbs(inverse.dataSync()),
        );
      }
    });
  });

  it('matches the textbook inverse exactly in f64', () => {
    scope(() => {
      const l = tensor(Float64Array.from([2, 0, 0, 6, 1, 0, -8, 5, 3]), { shape: [3, 3] });
      const expected = [
        49.36111111111111, -13.555555555555555, 2.1111111111111107, -13.555555555555555,
        3.777777777777778, -0.5555555555555556, 2.1111111111111107, -0.5555555555555556,
        0.1111111111111111,
      ];
      expect(maxAbsDiff(choleskyInverse(l).dataSync(), expected)).toBeLessThan(1e-12);
      // Only the factor's triangle is read.
      const garbage = tensor(Float64Array.from([2, 7, 7, 6, 1, 7, -8, 5, 3]), { shape: [3, 3] });
      expect(maxAbsDiff(choleskyInverse(garbage).dataSync(), expected)).toBeLessThan(1e-12);
    });
  });
});
