import { describe, expect, it } from 'vitest';
import {
  broadcastTo,
  cast,
  layerNorm,
  logSoftmax,
  mul,
  rmsNorm,
  scope,
  slice,
  softmax,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, F64_TOLERANCE, normals } from './helpers';

/** Applies `f` to every 1-D lane of row-major `values` along `axis`, in plain loops. */
function naiveLanes(
  values: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  f: (lane: number[]) => number[],
): number[] {
  const out = new Array<number>(values.length);
  const length = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const at = (i: number) => (o * length + i) * inner + j;
      const result = f(Array.from({ length }, (_, i) => values[at(i)]!));
      result.forEach((v, i) => {
        out[at(i)] = v;
      });
    }
  }
  return out;
}

const naiveSoftmax = (lane: number[]) => {
  const exps = lane.map(Math.exp);
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
};
const naiveLogSoftmax = (lane: number[]) => naiveSoftmax(lane).map(Math.log);

function naiveNorm(
  lane: number[],
  centered: boolean,
  eps: number,
  weight?: ArrayLike<number>,
  bias?: ArrayLike<number>,
): number[] {
  const n = lane.length;
  const center = centered ? lane.reduce((a, b) => a + b, 0) / n : 0;
  const spread = lane.reduce((a, v) => a + (v - center) ** 2, 0) / n;
  return lane.map(
    (v, i) => ((v - center) / Math.sqrt(spread + eps)) * (weight?.[i] ?? 1) + (bias?.[i] ?? 0),
  );
}

describe('softmax and logSoftmax', () => {
  for (const axis of [0, 1, 2, -1]) {
    it(`match plain loops along axis ${axis} of [3, 5, 7]`, () => {
      scope(() => {
        const x = normals([3, 5, 7], 1);
        const a = axis < 0 ? axis + 3 : axis;
        expectClose(
          softmax(x, axis).dataSync(),
          naiveLanes(x.dataSync(), [3, 5, 7], a, naiveSoftmax),
          F64_TOLERANCE,
        );
        expectClose(
          logSoftmax(x, axis).dataSync(),
          naiveLanes(x.dataSync(), [3, 5, 7], a, naiveLogSoftmax),
          F64_TOLERANCE,
        );
      });
    });
  }

  it('stays finite for large inputs and gives masked (-Infinity) entries 0', () => {
    scope(() => {
      const x = tensor(
        [
          [1000, 1000, -1000],
          [0, Number.NEGATIVE_INFINITY, 0],
        ],
        { dtype: 'f64' },
      );
      expectClose(softmax(x).dataSync(), [0.5, 0.5, 0, 0.5, 0, 0.5], F64_TOLERANCE);
      const logs = logSoftmax(x).dataSync();
      expect(logs[0]).toBeCloseTo(-Math.LN2, 12);
      expect(logs[2]).toBeCloseTo(-2000 - Math.LN2, 9);
      expect(logs[4]).toBe(Number.NEGATIVE_INFINITY);
    });
  });

  it('reads non-contiguous views', () => {
    scope(() => {
      const view = slice(transpose(normals([6, 4], 2)), [1, 1], [4, 6]);
      const dense = tensor(Float64Array.from(view.dataSync()), { shape: view.shape });
      expect(softmax(view, 0).dataSync()).toEqual(softmax(dense, 0).dataSync());
      expect(logSoftmax(view).dataSync()).toEqual(logSoftmax(dense).dataSync());
    });
  });

  it('handles empty and size-1 axes', () => {
    scope(() => {
      expect(softmax(tensor(new Float64Array(0), { shape: [0, 3] }), 1).shape).toEqual([0, 3]);
      expect(softmax(tensor(new Float64Array(0), { shape: [3, 0] })).shape).toEqual([3, 0]);
      expect(softmax(normals([4, 1], 3)).toArray()).toEqual([[1], [1], [1], [1]]);
      expect(logSoftmax(normals([4, 1], 3)).toArray()).toEqual([[0], [0], [0], [0]]);
    });
  });

  it('refuses integers and bad axes', () => {
    scope(() => {
      expect(() => softmax(tensor([1, 2], { dtype: 'i32' }))).toThrow(
        /softmax: needs a float tensor, got i32/,
      );
      expect(() => logSoftmax(tensor([1, 2]), 1)).toThrow(/logSoftmax: axis 1 is out of range/);
    });
  });
});

describe('rmsNorm and layerNorm', () => {
  it('match plain loops with and without parameters', () => {
    scope(() => {
      const x = normals([3, 5, 7], 4);
      const weight = normals([7], 5);
      const bias = normals([7], 6);
      const w = weight.dataSync();
      const b = bias.dataSync();
      const lanes = (f: (lane: number[]) => number[]) => naiveLanes(x.dataSync(), [3, 5, 7], 2, f);
      expectClose(
        rmsNorm(x, weight).dataSync(),
        lanes((l) => naiveNorm(l, false, 1e-5, w)),
        F64_TOLERANCE,
      );
      expectClose(
        rmsNorm(x, null, { eps: 0.5 }).dataSync(),
        lanes((l) => naiveNorm(l, false, 0.5)),
        F64_TOLERANCE,
      );
      expectClose(
        layerNorm(x, weight, bias).dataSync(),
        lanes((l) => naiveNorm(l, true, 1e-5, w, b)),
        F64_TOLERANCE,
      );
      expectClose(
        layerNorm(x, null, bias, { eps: 1e-3 }).dataSync(),
        lanes((l) => naiveNorm(l, true, 1e-3, undefined, b)),
        F64_TOLERANCE,
      );
      expectClose(
        layerNorm(x, weight, null).dataSync(),
        lanes((l) => naiveNorm(l, true, 1e-5, w)),
        F64_TOLERANCE,
      );
      expectClose(
        layerNorm(x, null, null).dataSync(),
        lanes((l) => naiveNorm(l, true, 1e-5)),
        F64_TOLERANCE,
      );
    });
  });

  it('normalizes 1-D inputs and non-contiguous views', () => {
    scope(() => {
      const v = normals([6], 7);
      expectClose(
        rmsNorm(v, null).dataSync(),
        naiveNorm(Array.from(v.dataSync()), false, 1e-5),
        F64_TOLERANCE,
      );
      const view = transpose(normals([5, 3], 8));
      const dense = tensor(Float64Array.from(view.dataSync()), { shape: view.shape });
      const weight = broadcastTo(tensor([2], { dtype: 'f64' }), [5]);
      expect(rmsNorm(view, weight).dataSync()).toEqual(rmsNorm(dense, weight).dataSync());
      expect(layerNorm(view, null, weight).dataSync()).toEqual(
        layerNorm(dense, null, weight).dataSync(),
      );
    });
  });

  it('handles a constant row (zero variance) and empty batches', () => {
    scope(() => {
      const y = layerNorm(
        tensor([[3, 3, 3]], { dtype: 'f64' }),
        null,
        tensor([1, 2, 3], { dtype: 'f64' }),
      );
      expect(y.toArray()).toEqual([[1, 2, 3]]);
      expect(rmsNorm(tensor([[0, 0]], { dtype: 'f64' }), null).toArray()).toEqual([[0, 0]]);
      expect(rmsNorm(tensor(new Float64Array(0), { shape: [0, 4] }), null).shape).toEqual([0, 4]);
    });
  });

  it('names the shapes and dtypes in its errors', () => {
    scope(() => {
      const x = normals([2, 4], 9);
      expect(() => rmsNorm(x, normals([3], 1))).toThrow(/rmsNorm: weight \[3\].*\[2, 4\].*\[4\]/);
      expect(() => layerNorm(x, null, normals([4, 1], 1))).toThrow(
        /layerNorm: bias \[4, 1\].*\[2, 4\]/,
      );
      expect(() => layerNorm(x, tensor([1, 2, 3, 4]), null)).toThrow(
        /layerNorm: dtypes f64 and f32 differ/,
      );
      expect(() => rmsNorm(tensor([1, 2], { dtype: 'i32' }), null)).toThrow(
        /rmsNorm: needs a float tensor, got i32/,
      );
      expect(() => rmsNorm(tensor(1, { dtype: 'f64' }), null)).toThrow(
        /rmsNorm: input \[\] has no axis/,
      );
    });
  });
});

describe('f16 inputs', () => {
  it('stay within f16 tolerance of f32', () => {
    scope(() => {
      const x32 = cast(normals([4, 9], 10), 'f32');
      const w32 = cast(normals([9], 11), 'f32');
      const b32 = cast(normals([9], 12), 'f32');
      const x16 = cast(x32, 'f16');
      const w16 = cast(w32, 'f16');
      const b16 = cast(b32, 'f16');
      const pairs: [Tensor, Tensor][] = [
        [softmax(x16), softmax(x32)],
        [logSoftmax(x16, 0), logSoftmax(x32, 0)],
        [rmsNorm(x16, w16), rmsNorm(x32, w32)],
        [layerNorm(x16, w16, b16), layerNorm(x32, w32, b32)],
      ];
      for (const [half, full] of pairs) {
        expect(half.dtype).toBe('f16');
        const reference = full.dataSync();
        const actual = half.dataSync();
        for (let i = 0; i < reference.length; i++) {
          expect(Math.abs(actual[i]! - reference[i]!)).toBeLessThan(
            1e-2 * (1 + Math.abs(reference[i]!)),
          );
        }
      }
    });
  });
});

describe('normalization gradients', () => {
  it('gradchecks softmax and logSoftmax along every axis', () => {
    const x = normals([3, 4, 5], 20);
    for (const axis of [0, 1, -1]) {
      expect(gradcheck((t) => softmax(t!, axis), [x]).ok).toBe(true);
      expect(gradcheck((t) => logSoftmax(t!, axis), [x]).ok).toBe(true);
    }
    expect(gradcheck((t) => softmax(transpose(t!), 0), [normals([4, 3], 21)]).ok).toBe(true);
  });

  it('gradchecks rmsNorm for x and weight', () => {
    const x = normals([2, 3, 5], 22);
    const weight = normals([5], 23);
    expect(gradcheck((t, w) => rmsNorm(t!, w!), [x, weight]).ok).toBe(true);
    expect(gradcheck((t) => rmsNorm(t!, null, { eps: 1e-2 }), [x]).ok).toBe(true);
    expect(gradcheck((t) => rmsNorm(t!, null), [normals([4], 24)]).ok).toBe(true);
  });

  it('gradchecks layerNorm for x, weight and bias in every combination', () => {
    const x = normals([2, 3, 5], 25);
    const weight = normals([5], 26);
    const bias = normals([5], 27);
    expect(gradcheck((t, w, b) => layerNorm(t!, w!, b!), [x, weight, bias]).ok).toBe(true);
    expect(gradcheck((t, w) => layerNorm(t!, w!, null), [x, weight]).ok).toBe(true);
    expect(gradcheck((t, b) => layerNorm(t!, null, b!), [x, bias]).ok).toBe(true);
    expect(gradcheck((t) => layerNorm(t!, null, null, { eps: 1e-3 }), [x]).ok).toBe(true);
    expect(
      gradcheck(
        (t, w) => layerNorm(transpose(t!), w!, null),
        [normals([5, 3], 28), normals([5], 29)],
      ).ok,
    ).toBe(true);
  });

  it('computes only the gradients that are needed', () => {
    scope(() => {
      const x = normals([3, 4], 30);
      const weight = normals([4], 31);
      weight.requiresGrad = true;
      sum(rmsNorm(x, weight)).backward();
      expect(weight.grad!.shape).toEqual([4]);
      expect(x.grad).toBeNull();
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = normals([2, 3, 4], 32);
        const weight = normals([4], 33);
        const bias = normals([4], 34);
        for (const t of [x, weight, bias]) t.requiresGrad = true;
        const hidden = layerNorm(rmsNorm(x, weight), weight, bias);
        sum(mul(softmax(hidden), logSoftmax(hidden, 1))).backward();
        expect(x.grad!.shape).toEqual([2, 3, 4]);
        expect(bias.grad!.shape).toEqual([4]);
      }),
    );
  });
});
