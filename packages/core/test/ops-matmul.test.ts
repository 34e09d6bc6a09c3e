import { describe, expect, it } from 'vitest';
import {
  broadcastTo,
  cast,
  detach,
  linear,
  matmul,
  mul,
  scope,
  slice,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, F64_TOLERANCE, normals } from './helpers';

/** Plain triple loop over 2-D row-major matrices. */
function naiveMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < k; p++) out[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
    }
  }
  return out;
}

describe('matmul forward', () => {
  it('multiplies odd-sized matrices like a triple loop', () => {
    scope(() => {
      const a = normals([3, 5], 1);
      const b = normals([5, 7], 2);
      const y = matmul(a, b);
      expect(y.shape).toEqual([3, 7]);
      expectClose(y.dataSync(), naiveMatmul(a.dataSync(), b.dataSync(), 3, 5, 7), F64_TOLERANCE);
    });
  });

  it('broadcasts batch axes: [2, 1, 3, 4] @ [5, 4, 6] -> [2, 5, 3, 6]', () => {
    scope(() => {
      const a = normals([2, 1, 3, 4], 3);
      const b = normals([5, 4, 6], 4);
      const y = matmul(a, b);
      expect(y.shape).toEqual([2, 5, 3, 6]);
      const av = a.dataSync();
      const bv = b.dataSync();
      const yv = y.dataSync();
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 5; j++) {
          const expected = naiveMatmul(
            av.subarray(i * 12, i * 12 + 12),
            bv.subarray(j * 24, j * 24 + 24),
            3,
            4,
            6,
          );
          const start = (i * 5 + j) * 18;
          expectClose(yv.subarray(start, start + 18), expected, F64_TOLERANCE);
        }
      }
    });
  });

  it('promotes 1-D operands and removes the added axis', () => {
    scope(() => {
      const v = normals([4], 5);
      const m = normals([4, 3], 6);
      const vm = matmul(v, m);
      expect(vm.shape).toEqual([3]);
      expectClose(vm.dataSync(), naiveMatmul(v.dataSync(), m.dataSync(), 1, 4, 3), F64_TOLERANCE);
      const batch = normals([2, 3, 4], 7);
      const mv = matmul(batch, v);
      expect(mv.shape).toEqual([2, 3]);
      expectClose(
        mv.dataSync(),
        naiveMatmul(batch.dataSync(), v.dataSync(), 6, 4, 1),
        F64_TOLERANCE,
      );
      const dot = matmul(v, v);
      expect(dot.shape).toEqual([]);
      expect(dot.item()).toBeCloseTo(
        Array.from(v.dataSync()).reduce((s, x) => s + x * x, 0),
        12,
      );
      expect(matmul(v, normals([2, 4, 3], 8)).shape).toEqual([2, 3]);
    });
  });

  it('gives zeros for K = 0 and empty results for M = 0', () => {
    scope(() => {
      const y = matmul(
        tensor(new Float64Array(0), { shape: [3, 0] }),
        tensor(new Float64Array(0), { shape: [0, 4] }),
      );
      expect(y.shape).toEqual([3, 4]);
      expect(Array.from(y.dataSync())).toEqual(new Array(12).fill(0));
      expect(
        matmul(tensor(new Float64Array(0), { shape: [0, 3] }), normals([3, 2], 9)).shape,
      ).toEqual([0, 2]);
      expect(
        matmul(normals([2, 3], 10), tensor(new Float64Array(0), { shape: [0, 3, 5] })).shape,
      ).toEqual([0, 2, 5]);
    });
  });

  it('reads transposed, sliced and broadcast views', () => {
    scope(() => {
      const base = normals([5, 3], 11);
      const a = transpose(base);
      const b = slice(normals([6, 7], 12), [1, 2], [6, 6]);
      const dense = (t: Tensor) => tensor(Float64Array.from(t.dataSync()), { shape: t.shape });
      expect(a.isContiguous).toBe(false);
      expectClose(
        matmul(a, b).dataSync(),
        naiveMatmul(dense(a).dataSync(), dense(b).dataSync(), 3, 5, 4),
        F64_TOLERANCE,
      );
      const shared = broadcastTo(normals([4, 2], 13), [3, 4, 2]);
      const batched = matmul(normals([3, 2, 4], 14), shared);
      expect(batched.shape).toEqual([3, 2, 2]);
      expectClose(
        batched.dataSync(),
        matmul(normals([3, 2, 4], 14), dense(shared)).dataSync(),
        F64_TOLERANCE,
      );
    });
  });

  it('computes f16 within f16 tolerance of f32', () => {
    scope(() => {
      const a32 = cast(normals([4, 9], 15), 'f32');
      const b32 = cast(normals([9, 5], 16), 'f32');
      const y16 = matmul(cast(a32, 'f16'), cast(b32, 'f16'));
      expect(y16.dtype).toBe('f16');
      const reference = matmul(a32, b32).dataSync();
      const actual = y16.dataSync();
      for (let i = 0; i < reference.length; i++) {
        expect(Math.abs(actual[i]! - reference[i]!)).toBeLessThan(
          2e-2 * (1 + Math.abs(reference[i]!)),
        );
      }
    });
  });

  it('multiplies integers exactly, wrapping like i32', () => {
    scope(() => {
      const a = tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'i32' },
      );
      const b = tensor(
        [
          [5, -6],
          [7, 8],
        ],
        { dtype: 'i32' },
      );
      expect(matmul(a, b).toArray()).toEqual([
        [19, 10],
        [43, 14],
      ]);
      const big = tensor([[65536, 65536]], { dtype: 'i32' });
      expect(matmul(big, tensor([[65536], [1]], { dtype: 'i32' })).toArray()).toEqual([[65536]]);
    });
  });

  it('names both shapes or dtypes in its errors', () => {
    scope(() => {
      expect(() => matmul(normals([2, 3], 1), normals([4, 5], 2))).toThrow(
        /matmul.*\[2, 3\].*\[4, 5\].*inner dims 3 and 4/,
      );
      expect(() => matmul(normals([2, 2, 3], 1), normals([3, 3, 5], 2))).toThrow(
        /matmul.*\[2, 2, 3\].*\[3, 3, 5\].*batch/,
      );
      expect(() => matmul(normals([3], 1), normals([4], 2))).toThrow(/matmul.*\[3\].*\[4\]/);
      expect(() => matmul(tensor(1, { dtype: 'f64' }), normals([1], 2))).toThrow(
        /matmul.*\[\].*\[1\]/,
      );
      expect(() => matmul(normals([2, 3], 1), tensor([[1], [2], [3]]))).toThrow(
        /matmul.*f64 and f32/,
      );
    });
  });
});

describe('linear', () => {
  it('computes x @ weight^T + bias with weight [out, in]', () => {
    scope(() => {
      const x = normals([2, 3, 5], 20);
      const weight = normals([4, 5], 21);
      const bias = normals([4], 22);
      const y = linear(x, weight, bias);
      expect(y.shape).toEqual([2, 3, 4]);
      const weightT = Float64Array.from(transpose(weight).dataSync());
      const expected = naiveMatmul(x.dataSync(), weightT, 6, 5, 4).map(
        (v, i) => v + bias.dataSync()[i % 4]!,
      );
      expectClose(y.dataSync(), expected, F64_TOLERANCE);
      expectClose(
        linear(x, weight).dataSync(),
        naiveMatmul(x.dataSync(), weightT, 6, 5, 4),
        F64_TOLERANCE,
      );
    });
  });

  it('names the shapes in its errors', () => {
    scope(() => {
      expect(() => linear(normals([2, 5], 1), normals([4, 6], 2))).toThrow(
        /linear.*\[2, 5\].*\[4, 6\]/,
      );
      expect(() => linear(normals([2, 5], 1), normals([5], 2))).toThrow(
        /linear: weight must be \[out, in\], got \[5\]/,
      );
      expect(() => linear(normals([2, 5], 1), normals([4, 5], 2), normals([3], 3))).toThrow(
        /linear: bias \[3\].*\[4, 5\]/,
      );
    });
  });
});

describe('matmul gradients', () => {
  it('gradchecks 2-D, batched with broadcasting, and 1-D operands', () => {
    expect(gradcheck((a, b) => matmul(a!, b!), [normals([3, 5], 30), normals([5, 2], 31)]).ok).toBe(
      true,
    );
    expect(
      gradcheck((a, b) => matmul(a!, b!), [normals([2, 1, 3, 4], 32), normals([3, 4, 2], 33)]).ok,
    ).toBe(true);
    expect(gradcheck((a, b) => matmul(a!, b!), [normals([4], 34), normals([2, 4, 3], 35)]).ok).toBe(
      true,
    );
    expect(gradcheck((a, b) => matmul(a!, b!), [normals([2, 3, 4], 36), normals([4], 37)]).ok).toBe(
      true,
    );
    expect(gradcheck((a, b) => matmul(a!, b!), [normals([4], 38), normals([4], 39)]).ok).toBe(true);
  });

  it('gradchecks transposed and broadcast views', () => {
    expect(
      gradcheck(
        (a, b) => matmul(transpose(a!), transpose(b!)),
        [normals([4, 3], 40), normals([2, 4], 41)],
      ).ok,
    ).toBe(true);
    expect(
      gradcheck(
        (a, b) => matmul(a!, broadcastTo(b!, [3, 4, 2])),
        [normals([3, 2, 4], 42), normals([4, 2], 43)],
      ).ok,
    ).toBe(true);
  });

  it('gradchecks linear with and without bias', () => {
    const x = normals([2, 3, 4], 44);
    const weight = normals([5, 4], 45);
    const bias = normals([5], 46);
    expect(gradcheck((a, w, b) => linear(a!, w!, b!), [x, weight, bias]).ok).toBe(true);
    expect(gradcheck((a, w) => linear(a!, w!), [x, weight]).ok).toBe(true);
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const a = normals([2, 1, 3, 4], 50);
        const weight = normals([6, 4], 51);
        a.requiresGrad = true;
        weight.requiresGrad = true;
        sum(linear(matmul(a, normals([5, 4, 4], 52)), weight, normals([6], 53))).backward();
        expect(a.grad!.shape).toEqual([2, 1, 3, 4]);
        expect(weight.grad!.shape).toEqual([6, 4]);
      }),
    );
  });
});

describe('mixed precision: f32 by f16/bf16 weights', () => {
  const narrowDTypes = ['f16', 'bf16'] as const;

  /** Every element as raw bits: f32 results compared bit for bit. */
  const bitsOf = (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

  it.each(narrowDTypes)('gives f32 identical to casting the %s operand first', (dtype) => {
    scope(() => {
      const cases: [Tensor, Tensor][] = [
        [normals([3, 5], 60, { dtype: 'f32' }), normals([5, 7], 61, { dtype })],
        [normals([2, 1, 3, 4], 62, { dtype: 'f32' }), normals([5, 4, 6], 63, { dtype })],
        [normals([4], 64, { dtype: 'f32' }), normals([4, 3], 65, { dtype })],
        [normals([2, 3, 4], 66, { dtype: 'f32' }), normals([4], 67, { dtype })],
        [normals([1, 300], 68, { dtype: 'f32' }), transpose(normals([17, 300], 69, { dtype }))],
      ];
      for (const [a, b] of cases) {
        const mixed = matmul(a, b);
        expect(mixed.dtype).toBe('f32');
        expect(bitsOf(mixed)).toEqual(bitsOf(matmul(a, cast(b, 'f32'))));
      }
      const x = normals([2, 3, 6], 70, { dtype: 'f32' });
      const weight = normals([5, 6], 71, { dtype });
      const bias = normals([5], 72, { dtype });
      const y = linear(x, weight, bias);
      expect(y.dtype).toBe('f32');
      expect(bitsOf(y)).toEqual(bitsOf(linear(x, cast(weight, 'f32'), cast(bias, 'f32'))));
    });
  });

  it('refuses other dtype pairs, naming the rule', () => {
    scope(() => {
      const f32 = normals([2, 2], 1, { dtype: 'f32' });
      const f16 = normals([2, 2], 2, { dtype: 'f16' });
      expect(() => matmul(f16, f32)).toThrow(
        /matmul: dtypes f16 and f32 differ.*f32 times f16\/bf16/,
      );
      expect(() => matmul(normals([2, 2], 3), f16)).toThrow(/matmul: dtypes f64 and f16 differ/);
      expect(() => matmul(f32, normals([2, 2], 4))).toThrow(/matmul: dtypes f32 and f64 differ/);
      expect(() => matmul(f32, normals([2, 2], 5, { dtype: 'i32' }))).toThrow(/DTYPE|differ/);
      expect(() => matmul(f16, normals([2, 2], 6, { dtype: 'bf16' }))).toThrow(/f16 and bf16/);
    });
  });

  it.each(narrowDTypes)(
    'gets gradients: dA in f32, dW computed in f32 and rounded to %s',
    (dtype) => {
      scope(() => {
        const x = normals([2, 3, 6], 80, { dtype: 'f32' });
        const weight = normals([5, 6], 81, { dtype });
        const upcast = cast(weight, 'f32');
        const projection = normals([2, 3, 5], 82, { dtype: 'f32' });
        const gradients = (w: Tensor) => {
          const xLeaf = detach(x);
          const wLeaf = detach(w);
          xLeaf.requiresGrad = true;
          wLeaf.requiresGrad = true;
          sum(mul(linear(xLeaf, wLeaf), projection)).backward();
          return [xLeaf.grad!, wLeaf.grad!] as const;
        };
        const [dx, dw] = gradients(weight);
        const [dxUp, dwUp] = gradients(upcast);
        expect(dx.dtype).toBe('f32');
        expect(dw.dtype).toBe(dtype);
        expect(bitsOf(dx)).toEqual(bitsOf(dxUp));
        expect(Array.from(dw.rawSync())).toEqual(Array.from(cast(dwUp, dtype).rawSync()));
      });
    },
  );

  it('sums the gradient of a narrow operand broadcast over batch axes in f32', () => {
    scope(() => {
      const a = normals([2, 3, 4], 85, { dtype: 'f32' });
      const b = normals([1, 4, 5], 86, { dtype: 'bf16' });
      const gradOf = (w: Tensor) => {
        const leaf = detach(w);
        leaf.requiresGrad = true;
        sum(mul(matmul(a, leaf), normals([2, 3, 5], 87, { dtype: 'f32' }))).backward();
        return leaf.grad!;
      };
      const narrow = gradOf(b);
      expect(narrow.dtype).toBe('bf16');
      const wide = gradOf(cast(b, 'f32'));
      expect(Array.from(narrow.rawSync())).toEqual(Array.from(cast(wide, 'bf16').rawSync()));
    });
  });

  it('computes no weight gradient for a frozen narrow weight, and leaks nothing', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = normals([4, 8], 90, { dtype: 'f32' });
        const weight = normals([3, 8], 91, { dtype: 'f16' });
        x.requiresGrad = true;
        sum(linear(x, weight, normals([3], 92, { dtype: 'bf16' }))).backward();
        expect(x.grad!.dtype).toBe('f32');
        expect(weight.grad).toBeFalsy();
      }),
    );
  });
});
