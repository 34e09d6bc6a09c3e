import { describe, expect, it } from 'vitest';
import {
  add,
  argmax,
  cast,
  logsumexp,
  max,
  mean,
  min,
  scope,
  slice,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, F64_TOLERANCE, normals } from './helpers';

/** A plain-loop reduction of row-major `values` of `shape` over `axes`, groups in order. */
function naive(
  values: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly number[],
  combine: (group: number[]) => number,
): number[] {
  const keptShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    let key = 0;
    for (let a = 0; a < shape.length; a++)
      key = key * keptShape[a]! + (axes.includes(a) ? 0 : index[a]!);
    groups.set(key, [...(groups.get(key) ?? []), values[i]!]);
    for (let a = shape.length - 1; a >= 0; a--) {
      index[a]!++;
      if (index[a]! < shape[a]!) break;
      index[a] = 0;
    }
  }
  return [...groups.keys()].sort((a, b) => a - b).map((k) => combine(groups.get(k)!));
}

const total = (g: number[]) => g.reduce((a, b) => a + b, 0);
const average = (g: number[]) => total(g) / g.length;
const largest = (g: number[]) => Math.max(...g);
const smallest = (g: number[]) => Math.min(...g);
const logSumExp = (g: number[]) => {
  const m = Math.max(...g);
  return m + Math.log(total(g.map((v) => Math.exp(v - m))));
};
const firstArgmax = (g: number[]) => g.indexOf(Math.max(...g));

describe('reductions match plain loops', () => {
  const shape = [3, 5, 7];
  const cases: [
    string,
    (x: Tensor, axes: number[], keepDims: boolean) => Tensor,
    (g: number[]) => number,
  ][] = [
    ['sum', (x, axes, keepDims) => sum(x, axes, { keepDims }), total],
    ['mean', (x, axes, keepDims) => mean(x, axes, { keepDims }), average],
    ['max', (x, axes, keepDims) => max(x, axes, { keepDims }), largest],
    ['min', (x, axes, keepDims) => min(x, axes, { keepDims }), smallest],
    ['logsumexp', (x, axes, keepDims) => logsumexp(x, axes, { keepDims }), logSumExp],
  ];
  for (const [name, op, combine] of cases) {
    for (const axes of [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]]) {
      it(`${name} over ${JSON.stringify(axes)} of [3, 5, 7]`, () => {
        scope(() => {
          const x = normals(shape, 1);
          const expected = naive(x.dataSync(), shape, axes, combine);
          const y = op(x, axes, false);
          expect(y.shape).toEqual(shape.filter((_, i) => !axes.includes(i)));
          expectClose(y.dataSync(), expected, F64_TOLERANCE);
          const kept = op(x, axes, true);
          expect(kept.shape).toEqual(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
          expectClose(kept.dataSync(), expected, F64_TOLERANCE);
        });
      });
    }
  }

  it('reduces every axis by default and accepts negative axes', () => {
    scope(() => {
      const x = normals([4, 6], 2);
      const values = Array.from(x.dataSync());
      expect(mean(x).shape).toEqual([]);
      expect(mean(x).item()).toBeCloseTo(average(values), 12);
      expect(max(x).item()).toBe(largest(values));
      expect(min(x).item()).toBe(smallest(values));
      expectClose(
        logsumexp(x, -1).dataSync(),
        naive(values, [4, 6], [1], logSumExp),
        F64_TOLERANCE,
      );
      expect(max(x, [-2, -1], { keepDims: true }).shape).toEqual([1, 1]);
    });
  });

  it('reads non-contiguous views', () => {
    scope(() => {
      const base = normals([5, 4, 6], 3);
      const view = slice(transpose(base, 0, 2), [1, 0, 2]);
      const dense = tensor(Float64Array.from(view.dataSync()), { shape: view.shape });
      for (const op of [mean, max, min, logsumexp]) {
        expect(op(view, [0, 2]).dataSync()).toEqual(op(dense, [0, 2]).dataSync());
      }
      expect(argmax(view, 1).dataSync()).toEqual(argmax(dense, 1).dataSync());
    });
  });

  it('is stable for large and infinite logsumexp inputs', () => {
    scope(() => {
      const x = tensor(
        [
          [1000, 1000],
          [-1000, -1000],
          [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
        ],
        { dtype: 'f64' },
      );
      const y = logsumexp(x, 1).dataSync();
      expect(y[0]).toBeCloseTo(1000 + Math.LN2, 10);
      expect(y[1]).toBeCloseTo(-1000 + Math.LN2, 10);
      expect(y[2]).toBe(Number.NEGATIVE_INFINITY);
      expect(logsumexp(tensor([1, Number.POSITIVE_INFINITY])).item()).toBe(
        Number.POSITIVE_INFINITY,
      );
    });
  });

  it('propagates NaN through max and min', () => {
    scope(() => {
      const x = tensor([
        [1, Number.NaN, 3],
        [4, 5, 6],
      ]);
      expect(Array.from(max(x, 1).dataSync())).toEqual([Number.NaN, 6]);
      expect(Array.from(min(x, 1).dataSync())).toEqual([Number.NaN, 4]);
    });
  });

  it('keeps integer max and min in their dtype', () => {
    scope(() => {
      const x = tensor(
        [
          [3, -7, 2],
          [9, 0, 9],
        ],
        { dtype: 'i32' },
      );
      const y = max(x, 1);
      expect(y.dtype).toBe('i32');
      expect(y.toArray()).toEqual([3, 9]);
      expect(min(x, 0).toArray()).toEqual([3, -7, 2]);
      expect(sum(x).item()).toBe(16);
    });
  });
});

describe('argmax', () => {
  it('gives i32 indices along one axis, with keepDims', () => {
    scope(() => {
      const x = normals([3, 5, 7], 4);
      const values = x.dataSync();
      const y = argmax(x, 1);
      expect(y.dtype).toBe('i32');
      expect(y.shape).toEqual([3, 7]);
      expect(Array.from(y.dataSync())).toEqual(naive(values, [3, 5, 7], [1], firstArgmax));
      expect(argmax(x, -1, { keepDims: true }).shape).toEqual([3, 5, 1]);
    });
  });

  it('takes the first index on ties and the first NaN', () => {
    scope(() => {
      const x = tensor([
        [1, 5, 5, 2],
        [7, 7, 7, 7],
        [0, Number.NaN, 9, Number.NaN],
        [-1, -2, -3, -4],
      ]);
      expect(argmax(x, 1).toArray()).toEqual([1, 0, 1, 0]);
      expect(argmax(x, 0).toArray()).toEqual([1, 2, 2, 2]);
    });
  });

  it('indexes the flattened tensor without an axis', () => {
    scope(() => {
      const x = tensor([
        [1, 2, 3],
        [9, 0, 9],
      ]);
      const y = argmax(x);
      expect(y.shape).toEqual([]);
      expect(y.item()).toBe(3);
      expect(argmax(x, undefined, { keepDims: true }).shape).toEqual([1, 1]);
    });
  });
});

describe('edge shapes and errors', () => {
  it('sums an empty axis to 0 and logsumexp gives -Infinity', () => {
    scope(() => {
      const x = tensor(new Float64Array(0), { shape: [3, 0] });
      expect(sum(x, 1).toArray()).toEqual([0, 0, 0]);
      expect(logsumexp(x, 1).toArray()).toEqual([
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
      ]);
      expect(Number.isNaN(mean(x, 1).dataSync()[0])).toBe(true);
      expect(max(x, 0).shape).toEqual([0]);
      expect(sum(x, 0).shape).toEqual([0]);
    });
  });

  it('refuses max, min and argmax over an axis with no elements', () => {
    scope(() => {
      const x = tensor(new Float64Array(0), { shape: [3, 0] });
      expect(() => max(x, 1)).toThrow(/max: cannot reduce axes \[1\] of \[3, 0\]/);
      expect(() => min(x)).toThrow(/min: .*\[3, 0\].*no elements/);
      expect(() => argmax(x, 1)).toThrow(/argmax: .*\[3, 0\]/);
    });
  });

  it('reduces 0-d tensors and size-1 axes', () => {
    scope(() => {
      expect(mean(tensor(2.5)).item()).toBe(2.5);
      expect(max(tensor([[4]]), 1).toArray()).toEqual([4]);
      expect(argmax(tensor([[4]]), 0).toArray()).toEqual([0]);
    });
  });

  it('refuses integer mean and logsumexp and bad axes', () => {
    scope(() => {
      const ints = tensor([1, 2, 3], { dtype: 'i32' });
      expect(() => mean(ints)).toThrow(/mean: needs a float tensor, got i32/);
      expect(() => logsumexp(ints)).toThrow(/logsumexp: .*i32/);
      expect(() => max(tensor([1, 2]), 1)).toThrow(/max: axis 1 is out of range/);
      expect(() => mean(tensor([[1, 2]]), [0, 0])).toThrow(/repeat an axis/);
    });
  });

  it('computes f16 inputs within f16 tolerance of f32', () => {
    scope(() => {
      const x32 = cast(normals([4, 9], 5), 'f32');
      const x16 = cast(x32, 'f16');
      for (const op of [mean, max, min, logsumexp, sum]) {
        const y16 = op(x16, 1);
        expect(y16.dtype).toBe('f16');
        const reference = op(x32, 1).dataSync();
        const actual = y16.dataSync();
        for (let i = 0; i < reference.length; i++) {
          expect(Math.abs(actual[i]! - reference[i]!)).toBeLessThan(
            1e-2 * (1 + Math.abs(reference[i]!)),
          );
        }
      }
      expect(argmax(x16, 1).toArray()).toEqual(argmax(x32, 1).toArray());
    });
  });
});

describe('reduction gradients', () => {
  const x = normals([3, 4, 5], 6);
  for (const [name, op] of [
    ['sum', sum],
    ['mean', mean],
    ['max', max],
    ['min', min],
    ['logsumexp', logsumexp],
  ] as const) {
    it(`gradchecks ${name} over several axes`, () => {
      for (const axes of [[1], [0, 2], undefined]) {
        expect(gradcheck((t) => op(t!, axes), [x]).ok).toBe(true);
        expect(gradcheck((t) => op(t!, axes, { keepDims: true }), [x]).ok).toBe(true);
      }
    });
  }

  it('gradchecks through a transposed view', () => {
    expect(gradcheck((t) => logsumexp(transpose(t!), 0), [normals([4, 3], 7)]).ok).toBe(true);
    expect(gradcheck((t) => mean(transpose(t!, 0, 2), [1, 2]), [x]).ok).toBe(true);
  });

  it('splits the max gradient evenly between ties', () => {
    scope(() => {
      const t = tensor(
        [
          [1, 3, 3],
          [2, 0, -1],
        ],
        { dtype: 'f64' },
      );
      t.requiresGrad = true;
      sum(max(t, 1)).backward();
      expect(t.grad!.toArray()).toEqual([
        [0, 0.5, 0.5],
        [1, 0, 0],
      ]);
      const u = tensor([5, 5, 5, 5], { dtype: 'f64' });
      u.requiresGrad = true;
      min(u).backward();
      expect(u.grad!.toArray()).toEqual([0.25, 0.25, 0.25, 0.25]);
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const t = normals([3, 4], 8);
        t.requiresGrad = true;
        const loss = sum(mean(t, 0)).item() + sum(max(t, 1)).item();
        expect(Number.isFinite(loss)).toBe(true);
        const y = sum(add(add(mean(t, 0), min(t, 0)), logsumexp(t, 0)));
        y.backward();
        expect(t.grad!.shape).toEqual([3, 4]);
        expect(argmax(t, 1).shape).toEqual([3]);
      }),
    );
  });
});
