import { describe, expect, it } from 'vitest';
import {
  add,
  cast,
  type DType,
  gelu,
  grad,
  relu,
  scope,
  silu,
  slice,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectGradOk, expectNoLeak, uniform, valuesOf } from './helpers';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)));
}

describe('relu', () => {
  it('zeroes negatives on floats and integers', () => {
    scope(() => {
      const x = uniform([3, 5, 7], 1, -3, 3);
      expect(valuesOf(relu(x))).toEqual(valuesOf(x).map((v) => Math.max(v, 0)));
      expect(valuesOf(relu(tensor([Number.NaN, -1, 2])))).toEqual([Number.NaN, 0, 2]);
      const i = relu(tensor([-3, 0, 4], { dtype: 'i32' }));
      expect(i.dtype).toBe('i32');
      expect(i.toArray()).toEqual([0, 0, 4]);
    });
  });
});

describe('silu', () => {
  it('is x * sigmoid(x), with the right limits', () => {
    scope(() => {
      const x = uniform([3, 5, 7], 2, -6, 6);
      expectClose(
        valuesOf(silu(x)),
        valuesOf(x).map((v) => v / (1 + Math.exp(-v))),
        { rtol: 1e-15 },
      );
      expect(valuesOf(silu(tensor(new Float64Array([-1000, 1000, 0]))))).toEqual([-0, 1000, 0]);
    });
  });
});

describe('gelu', () => {
  it('matches known values in both forms', () => {
    scope(() => {
      const one = tensor(new Float64Array([1]));
      expect(gelu(one).item()).toBeCloseTo(0.8413447460685429, 15);
      expect(gelu(one, { approximate: 'tanh' }).item()).toBeCloseTo(0.8411919906082768, 15);
      expect(gelu(one, { approximate: 'none' }).item()).toBeCloseTo(0.8413447460685429, 15);
    });
  });

  it('is accurate to 1e-14 relative in the exact form, tails included', () => {
    // x * Phi(x) from mpmath at 40 digits, rounded to f64: the far negative tail needs erfc, not 1 + erf.
    const table: [number, number][] = [
      [-10, -7.619853024160526e-23],
      [-5, -1.4332578593959695e-6],
      [-1, -0.15865525393145705],
      [-0.5, -0.15426876936299344],
      [0, 0],
      [0.5, 0.34573123063700656],
      [1, 0.8413447460685429],
      [2, 1.9544997361036416],
      [3.5, 3.4991857982233756],
    ];
    scope(() => {
      const y = gelu(tensor(Float64Array.from(table.map(([x]) => x))));
      expectClose(
        valuesOf(y),
        table.map(([, e]) => e),
        { rtol: 1e-14 },
      );
    });
  });

  it('matches the tanh formula in the tanh form', () => {
    scope(() => {
      const x = uniform([3, 5, 7], 3, -6, 6);
      expectClose(valuesOf(gelu(x, { approximate: 'tanh' })), valuesOf(x).map(geluTanh), {
        rtol: 1e-14,
        atol: 1e-16,
      });
    });
  });

  it('refuses an unknown approximation', () => {
    scope(() => {
      const x = tensor([1]);
      expect(() => gelu(x, { approximate: 'sigmoid' as 'tanh' })).toThrow(/gelu.*sigmoid/);
    });
  });
});

describe('activations on other inputs', () => {
  it('accept non-contiguous views and empty tensors', () => {
    scope(() => {
      const base = uniform([4, 6], 4, -3, 3);
      for (const view of [transpose(base), slice(base, [1, 1], [3, 4])]) {
        expect(view.isContiguous).toBe(false);
        const v = valuesOf(view);
        expect(valuesOf(relu(view))).toEqual(v.map((e) => Math.max(e, 0)));
        expectClose(
          valuesOf(silu(view)),
          v.map((e) => e / (1 + Math.exp(-e))),
          { rtol: 1e-15 },
        );
        expectClose(valuesOf(gelu(view, { approximate: 'tanh' })), v.map(geluTanh), {
          rtol: 1e-14,
          atol: 1e-16,
        });
      }
      for (const op of [relu, silu, gelu])
        expect(op(uniform([2, 0], 5, -3, 3)).shape).toEqual([2, 0]);
    });
  });

  it('compute f16 and bf16 in f64 and round once', () => {
    scope(() => {
      const x32 = cast(uniform([5, 7], 6, -3, 3), 'f32');
      for (const dtype of ['f16', 'bf16'] as DType[]) {
        const x = cast(x32, dtype);
        const widened = cast(x, 'f32');
        const halfUlp = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
        for (const op of [relu, silu, gelu, (t: Tensor) => gelu(t, { approximate: 'tanh' })]) {
          const y = op(x);
          expect(y.dtype).toBe(dtype);
          // Tiny gelu/silu values of negative inputs may land on f16 subnormals: allow their spacing.
          expectClose(valuesOf(y), valuesOf(op(widened)), { rtol: halfUlp, atol: 2 ** -24 });
        }
      }
    });
  });

  it('refuse integer tensors for silu and gelu, naming the op and the dtype', () => {
    scope(() => {
      const i = tensor([1, 2], { dtype: 'i32' });
      expect(() => silu(i)).toThrow(/silu.*i32/);
      expect(() => gelu(tensor([1], { dtype: 'u8' }))).toThrow(/gelu.*u8/);
    });
  });
});

describe('activation gradients', () => {
  it('gradchecks relu away from 0', () => {
    scope(() => {
      const x = tensor(new Float64Array([-2.1, -0.3, 0.4, 1.7, -1.1, 2.9]), { shape: [2, 3] });
      expectGradOk(gradcheck((a) => relu(a!), [x]));
    });
  });

  it('gives relu a zero gradient at 0', () => {
    scope(() => {
      const x = tensor(new Float64Array([-1, 0, 1]));
      x.requiresGrad = true;
      const [g] = grad(sum(relu(x)), [x]);
      expect(valuesOf(g!)).toEqual([0, 0, 1]);
      g!.dispose();
    });
  });

  it('gradchecks silu and both gelu forms, on a transposed input too', () => {
    scope(() => {
      const x = uniform([3, 5], 7, -4, 4);
      expectGradOk(gradcheck((a) => silu(a!), [x]));
      expectGradOk(gradcheck((a) => gelu(a!), [x]));
      expectGradOk(gradcheck((a) => gelu(a!, { approximate: 'tanh' }), [x]));
      expectGradOk(gradcheck((a) => gelu(transpose(a!)), [x]));
    });
  });

  it('leaks no tensors forward or backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = uniform([2, 3], 8, -3, 3);
        x.requiresGrad = true;
        const total = add(
          add(sum(relu(x)), sum(silu(x))),
          add(sum(gelu(x)), sum(gelu(x, { approximate: 'tanh' }))),
        );
        total.backward();
        expect(x.grad!.shape).toEqual([2, 3]);
      }),
    );
  });
});
