import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  broadcastTo,
  cast,
  clamp,
  cos,
  type DType,
  erf,
  exp,
  grad,
  log,
  maximum,
  minimum,
  pow,
  rsqrt,
  scope,
  sigmoid,
  sin,
  slice,
  sqrt,
  square,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectGradOk, expectNoLeak, uniform, valuesOf } from './helpers';

type Unary = (x: Tensor) => Tensor;

// Each float unary op, its JS definition, and an input range inside its domain.
const unaryOps: [string, Unary, (x: number) => number, number, number][] = [
  ['exp', exp, Math.exp, -3, 3],
  ['log', log, Math.log, 0.1, 5],
  ['sqrt', sqrt, Math.sqrt, 0.1, 5],
  ['rsqrt', rsqrt, (x) => 1 / Math.sqrt(x), 0.1, 5],
  ['tanh', tanh, Math.tanh, -3, 3],
  ['sin', sin, Math.sin, -4, 4],
  ['cos', cos, Math.cos, -4, 4],
  ['sigmoid', sigmoid, (x) => 1 / (1 + Math.exp(-x)), -6, 6],
  ['abs', abs, Math.abs, -3, 3],
  ['square', square, (x) => x * x, -3, 3],
];

describe('unary math: forward', () => {
  for (const [name, op, reference, low, high] of unaryOps) {
    it(`${name} matches Math on f64 (3x5x7) and rounds once on f32`, () => {
      scope(() => {
        const x = uniform([3, 5, 7], 1, low, high);
        const y = op(x);
        expect(y.shape).toEqual([3, 5, 7]);
        expect(y.dtype).toBe('f64');
        expectClose(valuesOf(y), valuesOf(x).map(reference), { rtol: 1e-15 });
        const x32 = cast(x, 'f32');
        expect(valuesOf(op(x32))).toEqual(valuesOf(x32).map((v) => Math.fround(reference(v))));
      });
    });
  }

  it('erf matches high-precision values to 1e-14 relative', () => {
    // From mpmath at 40 digits, rounded to the nearest f64.
    const table: [number, number][] = [
      [-3.5, -0.9999992569016276],
      [-1, -0.8427007929497149],
      [-0.3, -0.32862675945912745],
      [0, 0],
      [1e-8, 1.1283791670955126e-8],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [0.9999, 0.8426592780487595],
      [1, 0.8427007929497149],
      [1.5, 0.9661051464753108],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [4.5, 0.9999999998033839],
      [6, 1],
      [30, 1],
      [Number.POSITIVE_INFINITY, 1],
      [Number.NEGATIVE_INFINITY, -1],
      [Number.NaN, Number.NaN],
    ];
    scope(() => {
      const y = erf(tensor(Float64Array.from(table.map(([x]) => x))));
      expectClose(
        valuesOf(y),
        table.map(([, e]) => e),
        { rtol: 1e-14 },
      );
    });
  });

  it('handles special values like IEEE and C', () => {
    scope(() => {
      const x = tensor(
        new Float64Array([
          0,
          -0,
          Number.POSITIVE_INFINITY,
          Number.NEGATIVE_INFINITY,
          Number.NaN,
          -1,
        ]),
      );
      expect(valuesOf(log(x))).toEqual([
        -Infinity,
        -Infinity,
        Infinity,
        Number.NaN,
        Number.NaN,
        Number.NaN,
      ]);
      expect(valuesOf(rsqrt(x)).slice(0, 3)).toEqual([Infinity, -Infinity, 0]);
      expect(valuesOf(sigmoid(x)).slice(2, 5)).toEqual([1, 0, Number.NaN]);
      // Where e^-x overflows, 1 / (1 + e^-x) would give 0; the stable form keeps the tiny value.
      expect(sigmoid(tensor(new Float64Array([-720]))).item()).toBe(Math.exp(-720));
      expect(valuesOf(tanh(x)).slice(2, 4)).toEqual([1, -1]);
      expect(valuesOf(exp(x)).slice(2, 4)).toEqual([Infinity, 0]);
    });
  });

  it('abs and square take integers, wrapping like C', () => {
    scope(() => {
      const big = tensor([-3, 0, 7, 46341, 65536, -2147483648], { dtype: 'i32' });
      expect(abs(big).toArray()).toEqual([3, 0, 7, 46341, 65536, -2147483648]);
      expect(square(big).toArray()).toEqual([9, 0, 49, Math.imul(46341, 46341), 0, 0]);
      expect(square(big).dtype).toBe('i32');
      expect(abs(tensor([-128, -5, 127], { dtype: 'i8' })).toArray()).toEqual([-128, 5, 127]);
      expect(abs(tensor([0, 200], { dtype: 'u8' })).toArray()).toEqual([0, 200]);
    });
  });

  it('accepts non-contiguous inputs (transposed, sliced, broadcast)', () => {
    scope(() => {
      const base = uniform([4, 6], 2);
      const t = transpose(base);
      const s = slice(base, [1, 2], [3, 5]);
      const b = broadcastTo(slice(base, [0, 0], [1, 6]), [3, 6]);
      for (const view of [t, s, b]) {
        expect(view.isContiguous).toBe(false);
        expectClose(valuesOf(exp(view)), valuesOf(view).map(Math.exp), { rtol: 1e-15 });
        expectClose(
          valuesOf(square(view)),
          valuesOf(view).map((v) => v * v),
          { rtol: 0 },
        );
      }
    });
  });

  it('handles empty tensors and 0-d tensors', () => {
    scope(() => {
      const empty = exp(uniform([0, 3], 3));
      expect(empty.shape).toEqual([0, 3]);
      expect(empty.size).toBe(0);
      expect(sqrt(tensor(4, { dtype: 'f64' })).toArray()).toBe(2);
    });
  });

  it('computes f16 and bf16 in f64 and rounds once, within half tolerance of f32', () => {
    scope(() => {
      const x32 = cast(uniform([5, 7], 4, 0.2, 2), 'f32');
      for (const dtype of ['f16', 'bf16'] as DType[]) {
        const x = cast(x32, dtype);
        // The same (already rounded) inputs in f32: results may differ only by the output rounding.
        const widened = cast(x, 'f32');
        const halfUlp = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
        for (const op of [exp, log, sqrt, rsqrt, tanh, sin, cos, erf, sigmoid, abs, square]) {
          const y = op(x);
          expect(y.dtype).toBe(dtype);
          expectClose(valuesOf(y), valuesOf(op(widened)), { rtol: halfUlp });
        }
        expectClose(valuesOf(pow(x, x)), valuesOf(pow(widened, widened)), { rtol: halfUlp });
        expectClose(valuesOf(maximum(x, 1)), valuesOf(maximum(widened, 1)), { rtol: 0 });
        expectClose(valuesOf(clamp(x, 0.5, 1.5)), valuesOf(clamp(widened, 0.5, 1.5)), {
          rtol: halfUlp,
        });
      }
    });
  });

  it('refuses integer tensors for float ops, naming the op and the dtype', () => {
    scope(() => {
      const i = tensor([1, 2], { dtype: 'i32' });
      expect(() => exp(i)).toThrow(/exp.*i32/);
      expect(() => erf(i)).toThrow(/erf.*i32/);
      expect(() => pow(i, 2)).toThrow(/pow.*i32/);
      expect(() => sigmoid(tensor([1], { dtype: 'u8' }))).toThrow(/sigmoid.*u8/);
    });
  });
});

describe('pow', () => {
  it('raises with broadcasting, numbers on either side', () => {
    scope(() => {
      const base = uniform([2, 1, 3], 5, 0.5, 3);
      const exponent = uniform([4, 1], 6, -2, 2);
      const y = pow(base, exponent);
      expect(y.shape).toEqual([2, 4, 3]);
      const b = valuesOf(base);
      const e = valuesOf(exponent);
      const expected: number[] = [];
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 4; j++)
          for (let k = 0; k < 3; k++) expected.push(b[i * 3 + k]! ** e[j]!);
      expectClose(valuesOf(y), expected, { rtol: 1e-15 });
      expectClose(
        valuesOf(pow(base, 2.5)),
        b.map((v) => v ** 2.5),
        { rtol: 1e-15 },
      );
      expectClose(
        valuesOf(pow(2, exponent)),
        e.map((v) => 2 ** v),
        { rtol: 1e-15 },
      );
    });
  });

  it("follows C's pow where Math.pow differs", () => {
    scope(() => {
      const base = tensor(new Float64Array([1, -1, -1, 0, -8, 4]));
      const exponent = tensor(
        new Float64Array([
          Number.NaN,
          Number.POSITIVE_INFINITY,
          Number.NEGATIVE_INFINITY,
          0,
          1 / 3,
          -0.5,
        ]),
      );
      expect(valuesOf(pow(base, exponent))).toEqual([1, 1, 1, 1, Number.NaN, 0.5]);
    });
  });

  it('refuses mixed dtypes, naming both', () => {
    scope(() => {
      expect(() => pow(tensor([1, 2]), tensor(new Float64Array([1, 2])))).toThrow(/pow.*f32.*f64/);
    });
  });
});

describe('maximum and minimum', () => {
  it('broadcast, take numbers and propagate NaN', () => {
    scope(() => {
      const a = uniform([3, 1, 4], 7);
      const b = uniform([5, 1], 8);
      const av = valuesOf(a);
      const bv = valuesOf(b);
      const big: number[] = [];
      const small: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          for (let k = 0; k < 4; k++) {
            big.push(Math.max(av[i * 4 + k]!, bv[j]!));
            small.push(Math.min(av[i * 4 + k]!, bv[j]!));
          }
        }
      }
      expect(maximum(a, b).shape).toEqual([3, 5, 4]);
      expect(valuesOf(maximum(a, b))).toEqual(big);
      expect(valuesOf(minimum(a, b))).toEqual(small);
      expect(valuesOf(maximum(a, 0))).toEqual(av.map((v) => Math.max(v, 0)));
      expect(valuesOf(minimum(0.5, a))).toEqual(av.map((v) => Math.min(v, 0.5)));
      const nan = tensor([Number.NaN, 1]);
      expect(valuesOf(maximum(nan, tensor([0, Number.NaN])))).toEqual([Number.NaN, Number.NaN]);
    });
  });

  it('work on integers and on empty and size-1 broadcasts', () => {
    scope(() => {
      const i = tensor([-5, 3, 2147483647], { dtype: 'i32' });
      expect(maximum(i, tensor([0], { dtype: 'i32' })).toArray()).toEqual([0, 3, 2147483647]);
      expect(minimum(i, 1).toArray()).toEqual([-5, 1, 1]);
      expect(maximum(uniform([0, 3], 9), uniform([3], 10)).shape).toEqual([0, 3]);
      expect(minimum(uniform([1], 11), uniform([0], 12)).shape).toEqual([0]);
    });
  });

  it('report shapes that do not broadcast and mixed dtypes', () => {
    scope(() => {
      expect(() => maximum(uniform([2, 3], 13), uniform([4], 14))).toThrow(
        /maximum.*\[2, 3\].*\[4\]/,
      );
      expect(() => minimum(tensor([1]), tensor([1], { dtype: 'i32' }))).toThrow(
        /minimum.*f32.*i32/,
      );
    });
  });
});

describe('clamp', () => {
  it('limits to [min, max] with either bound optional', () => {
    scope(() => {
      const x = uniform([4, 5], 15);
      const v = valuesOf(x);
      expect(valuesOf(clamp(x, -0.5, 0.5))).toEqual(v.map((e) => Math.min(Math.max(e, -0.5), 0.5)));
      expect(valuesOf(clamp(x, 0))).toEqual(v.map((e) => Math.max(e, 0)));
      expect(valuesOf(clamp(x, undefined, 0.25))).toEqual(v.map((e) => Math.min(e, 0.25)));
    });
  });

  it('gives max where min > max, keeps NaN, and works on integers', () => {
    scope(() => {
      expect(valuesOf(clamp(tensor([-3, 0, 3, Number.NaN]), 2, 1))).toEqual([1, 1, 1, Number.NaN]);
      expect(clamp(tensor([-7, 0, 9], { dtype: 'i32' }), -2, 4).toArray()).toEqual([-2, 0, 4]);
    });
  });

  it('needs at least one bound', () => {
    scope(() => {
      expect(() => clamp(tensor([1]))).toThrow(/clamp.*min, max/);
    });
  });
});

describe('math gradients', () => {
  for (const [name, op, , low, high] of unaryOps) {
    it(`gradchecks ${name}`, () => {
      scope(() => {
        // abs is not differentiable at 0: keep inputs away from it.
        const x =
          name === 'abs'
            ? awayFromZero(uniform([3, 4], 20, low, high))
            : uniform([3, 4], 20, low, high);
        expectGradOk(gradcheck((a) => op(a!), [x]));
      });
    });
  }

  it('gradchecks erf, on a non-contiguous input', () => {
    scope(() => {
      expectGradOk(gradcheck((a) => erf(transpose(a!)), [uniform([3, 5], 21)]));
    });
  });

  it('gradchecks pow in both inputs with broadcasting, and with numbers', () => {
    scope(() => {
      const base = uniform([2, 3], 22, 0.5, 2);
      const exponent = uniform([3], 23, -2, 2);
      expectGradOk(gradcheck((a, b) => pow(a!, b!), [base, exponent]));
      expectGradOk(gradcheck((a) => pow(a!, 3), [uniform([4], 24, -2, 2)]));
      expectGradOk(gradcheck((b) => pow(1.7, b!), [exponent]));
    });
  });

  it('gives pow zero gradients, not NaN, where the formula is 0 * Inf', () => {
    scope(() => {
      const base = tensor(new Float64Array([0, 0, 2]));
      const exponent = tensor(new Float64Array([0, 2, 0]));
      base.requiresGrad = true;
      exponent.requiresGrad = true;
      const [dBase, dExponent] = grad(sum(pow(base, exponent)), [base, exponent]);
      expect(valuesOf(dBase!)).toEqual([0, 0, 0]);
      expect(valuesOf(dExponent!)).toEqual([0, 0, Math.log(2)]);
      dBase!.dispose();
      dExponent!.dispose();
    });
  });

  it('gradchecks maximum and minimum with broadcasting (no ties)', () => {
    scope(() => {
      const a = uniform([3, 1, 4], 25);
      const b = uniform([5, 1], 26);
      expectGradOk(gradcheck((x, y) => maximum(x!, y!), [a, b]));
      expectGradOk(gradcheck((x, y) => minimum(x!, y!), [a, b]));
      expectGradOk(gradcheck((x) => maximum(x!, 0.1), [a]));
    });
  });

  it('splits the gradient of maximum and minimum half and half on ties', () => {
    scope(() => {
      const a = tensor(new Float64Array([1, 2, 3]));
      const b = tensor(new Float64Array([1, 5, 0]));
      a.requiresGrad = true;
      b.requiresGrad = true;
      for (const [op, forA, forB] of [
        [maximum, [0.5, 0, 1], [0.5, 1, 0]],
        [minimum, [0.5, 1, 0], [0.5, 0, 1]],
      ] as const) {
        const [da, db] = grad(sum(op(a, b)), [a, b]);
        expect(valuesOf(da!)).toEqual(forA);
        expect(valuesOf(db!)).toEqual(forB);
        da!.dispose();
        db!.dispose();
      }
    });
  });

  it('gradchecks clamp away from the bounds, and passes the gradient on the bounds', () => {
    scope(() => {
      const x = tensor(new Float64Array([-1.3, -0.2, 0.3, 0.9, 1.7, -0.7]));
      expectGradOk(gradcheck((a) => clamp(a!, -0.5, 0.5), [x]));
      expectGradOk(gradcheck((a) => clamp(a!, 0), [x]));
      expectGradOk(gradcheck((a) => clamp(a!, undefined, 0), [x]));
      const onBounds = tensor(new Float64Array([-1, 1, 2]));
      onBounds.requiresGrad = true;
      const [g] = grad(sum(clamp(onBounds, -1, 1)), [onBounds]);
      expect(valuesOf(g!)).toEqual([1, 1, 0]);
      g!.dispose();
    });
  });

  it('gives abs a zero gradient at 0', () => {
    scope(() => {
      const x = tensor(new Float64Array([-2, 0, 3]));
      x.requiresGrad = true;
      const [g] = grad(sum(abs(x)), [x]);
      expect(valuesOf(g!)).toEqual([-1, 0, 1]);
      g!.dispose();
    });
  });

  it('backpropagates through f32 and f16 in their own dtype', () => {
    scope(() => {
      for (const dtype of ['f32', 'f16'] as DType[]) {
        const x = cast(tensor(new Float64Array([0.5, 1, 2])), dtype);
        x.requiresGrad = true;
        const [g] = grad(sum(exp(x)), [x]);
        expect(g!.dtype).toBe(dtype);
        expectClose(valuesOf(g!), [0.5, 1, 2].map(Math.exp), {
          rtol: dtype === 'f16' ? 1e-3 : 1e-7,
        });
        g!.dispose();
      }
    });
  });

  it('leaks no tensors forward or backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = uniform([2, 3], 27, 0.5, 2);
        const y = uniform([3], 28, -1, 1);
        x.requiresGrad = true;
        y.requiresGrad = true;
        const parts = [
          exp(x),
          log(x),
          sqrt(x),
          rsqrt(x),
          tanh(x),
          abs(y),
          sin(x),
          cos(x),
          erf(x),
          sigmoid(x),
          square(y),
        ];
        const mixed = [pow(x, y), maximum(x, y), minimum(x, y), clamp(x, 0.8, 1.5), pow(x, 2)];
        let total = sum(parts[0]!);
        for (const t of [...parts.slice(1), ...mixed]) total = sum(add(total, sum(t)));
        total.backward();
        expect(x.grad).not.toBeNull();
        expect(y.grad).not.toBeNull();
      }),
    );
  });
});

/** Moves values at least 0.1 away from 0 (for ops with a kink there). */
function awayFromZero(x: Tensor): Tensor {
  return tensor(
    Float64Array.from(x.dataSync(), (v) => (v >= 0 ? v + 0.1 : v - 0.1)),
    { shape: x.shape },
  );
}
