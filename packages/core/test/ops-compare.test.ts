import { describe, expect, it } from 'vitest';
import {
  broadcastTo,
  cast,
  type DType,
  equal,
  fromBf16Bits,
  fromF16Bits,
  grad,
  greater,
  greaterEqual,
  less,
  lessEqual,
  logicalNot,
  maskedFill,
  mul,
  notEqual,
  scope,
  slice,
  sum,
  type Tensor,
  tensor,
  transpose,
  where,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectGradOk, expectNoLeak, uniform, valuesOf } from './helpers';

function mask(values: number[], shape?: number[]): Tensor {
  return tensor(values, { dtype: 'u8', shape: shape ?? [values.length] });
}

const left = [0, -1.5, 2, Number.NaN, 3, -0, 7.25, -4];
const right = [0, 1.5, 2, Number.NaN, -3, 0, 7.5, Number.NaN];

const comparisons: [
  string,
  (a: Tensor | number, b: Tensor | number) => Tensor,
  (a: number, b: number) => boolean,
][] = [
  ['equal', equal, (a, b) => a === b],
  ['notEqual', notEqual, (a, b) => a !== b],
  ['greater', greater, (a, b) => a > b],
  ['greaterEqual', greaterEqual, (a, b) => a >= b],
  ['less', less, (a, b) => a < b],
  ['lessEqual', lessEqual, (a, b) => a <= b],
];

describe('comparisons', () => {
  for (const [name, op, reference] of comparisons) {
    it(`${name} gives a u8 mask, IEEE on ties, signed zeros and NaN`, () => {
      scope(() => {
        const y = op(tensor(left), tensor(right));
        expect(y.dtype).toBe('u8');
        expect(y.requiresGrad).toBe(false);
        expect(valuesOf(y)).toEqual(left.map((a, i) => (reference(a, right[i]!) ? 1 : 0)));
      });
    });

    it(`${name} broadcasts, takes numbers and any dtype`, () => {
      scope(() => {
        const a = uniform([3, 1, 4], 1);
        const b = uniform([5, 1], 2);
        const av = valuesOf(a);
        const bv = valuesOf(b);
        const expected: number[] = [];
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 5; j++)
            for (let k = 0; k < 4; k++) expected.push(reference(av[i * 4 + k]!, bv[j]!) ? 1 : 0);
        }
        expect(op(a, b).shape).toEqual([3, 5, 4]);
        expect(valuesOf(op(a, b))).toEqual(expected);
        expect(valuesOf(op(a, 0))).toEqual(av.map((v) => (reference(v, 0) ? 1 : 0)));
        expect(valuesOf(op(0, a))).toEqual(av.map((v) => (reference(0, v) ? 1 : 0)));
        const ints = [-3, 0, 5, 2147483647];
        const byDType: [DType, number[]][] = [
          ['i32', ints],
          ['i8', [-128, 0, 5, 127]],
          ['u8', [0, 1, 5, 255]],
        ];
        for (const [dtype, values] of byDType) {
          const t = tensor(values, { dtype });
          expect(valuesOf(op(t, 5))).toEqual(values.map((v) => (reference(v, 5) ? 1 : 0)));
        }
        expect(valuesOf(op(cast(a, 'f16'), cast(a, 'f16')))).toEqual(
          av.map(() => (reference(1, 1) ? 1 : 0)),
        );
      });
    });
  }

  it('handle non-contiguous and empty inputs', () => {
    scope(() => {
      const base = uniform([4, 6], 3);
      const t = transpose(base);
      const s = slice(base, [1, 2], [3, 5]);
      expect(valuesOf(greater(t, 0))).toEqual(valuesOf(t).map((v) => (v > 0 ? 1 : 0)));
      expect(valuesOf(lessEqual(s, broadcastTo(slice(s, [0, 0], [1, 3]), [2, 3])))).toEqual(
        valuesOf(s).map((v, i) => (v <= valuesOf(s)[i % 3]! ? 1 : 0)),
      );
      expect(equal(uniform([0, 2], 4), uniform([2], 5)).shape).toEqual([0, 2]);
    });
  });

  it('refuse mixed dtypes and mismatched shapes, naming both', () => {
    scope(() => {
      expect(() => less(tensor([1]), tensor([1], { dtype: 'i32' }))).toThrow(/less.*f32.*i32/);
      expect(() => equal(uniform([2, 3], 6), uniform([4], 7))).toThrow(/equal.*\[2, 3\].*\[4\]/);
    });
  });

  it('logicalNot marks zeros on any dtype, NaN counting as non-zero', () => {
    scope(() => {
      const y = logicalNot(tensor(left));
      expect(y.dtype).toBe('u8');
      expect(valuesOf(y)).toEqual([1, 0, 0, 0, 0, 1, 0, 0]);
      expect(valuesOf(logicalNot(mask([1, 0, 1])))).toEqual([0, 1, 0]);
      expect(valuesOf(logicalNot(tensor([-2, 0], { dtype: 'i32' })))).toEqual([0, 1]);
    });
  });
});

describe('where', () => {
  it('picks with all three operands broadcast', () => {
    scope(() => {
      const c = mask([1, 0, 1, 1], [4]);
      const a = uniform([3, 4], 8);
      const b = uniform([2, 1, 1], 9);
      const y = where(c, a, b);
      expect(y.shape).toEqual([2, 3, 4]);
      const av = valuesOf(a);
      const bv = valuesOf(b);
      const expected: number[] = [];
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++)
          for (let k = 0; k < 4; k++) expected.push([1, 0, 1, 1][k] ? av[j * 4 + k]! : bv[i]!);
      }
      expect(valuesOf(y)).toEqual(expected);
    });
  });

  it('takes a number for either branch, in the other branch dtype', () => {
    scope(() => {
      const c = mask([1, 0, 1]);
      const a = tensor([5, 6, 7], { dtype: 'i32' });
      expect(where(c, a, -1).dtype).toBe('i32');
      expect(valuesOf(where(c, a, -1))).toEqual([5, -1, 7]);
      expect(valuesOf(where(c, 0.5, tensor([1, 2, 3])))).toEqual([0.5, 2, 0.5]);
      expect(valuesOf(where(c, transpose(tensor([[1], [2], [3]])), 0))).toEqual([1, 0, 3]);
    });
  });

  it('works on f16, empty and non-contiguous operands', () => {
    scope(() => {
      const a = cast(uniform([2, 3], 10), 'f16');
      const b = cast(uniform([2, 3], 11), 'f16');
      const c = greater(a, b);
      const y = where(c, a, b);
      expect(y.dtype).toBe('f16');
      expect(valuesOf(y)).toEqual(valuesOf(a).map((v, i) => Math.max(v, valuesOf(b)[i]!)));
      expect(where(mask([]), uniform([0], 12), 1).shape).toEqual([0]);
      const t = transpose(uniform([3, 2], 13));
      expect(valuesOf(where(mask([0, 1, 0, 1, 0, 1], [2, 3]), t, 9))).toEqual(
        valuesOf(t).map((v, i) => (i % 2 ? v : 9)),
      );
    });
  });

  it('refuses a non-u8 condition, mixed branch dtypes and two numbers', () => {
    scope(() => {
      const a = tensor([1, 2]);
      expect(() => where(tensor([1, 0]), a, 0)).toThrow(/where.*u8.*f32/);
      expect(() => where(mask([1, 0]), a, tensor(new Float64Array([1, 2])))).toThrow(
        /where.*f32.*f64/,
      );
      expect(() => where(mask([1, 0]), 1, 2)).toThrow(/where.*tensor/);
      expect(() => where(mask([1, 0, 1]), a, a)).toThrow(/where.*\[3\].*\[2\]/);
    });
  });

  it('gradchecks both branches with broadcasting; the condition gets none', () => {
    scope(() => {
      const c = mask([1, 0, 0, 1, 1, 0], [2, 3]);
      const a = uniform([3], 14);
      const b = uniform([2, 1], 15);
      expectGradOk(gradcheck((x, y) => where(c, x!, y!), [a, b]));
      expectGradOk(gradcheck((x) => where(c, x!, 0), [uniform([2, 3], 16)]));
      expectGradOk(gradcheck((y) => where(c, 1.5, y!), [b]));
    });
  });
});

describe('maskedFill', () => {
  it('fills where a broadcast mask is set, including with -Infinity', () => {
    scope(() => {
      const x = uniform([2, 3, 4], 17);
      const m = mask([0, 1, 1, 0]);
      const y = maskedFill(x, m, Number.NEGATIVE_INFINITY);
      expect(y.shape).toEqual([2, 3, 4]);
      expect(valuesOf(y)).toEqual(
        valuesOf(x).map((v, i) => ([0, 1, 1, 0][i % 4] ? Number.NEGATIVE_INFINITY : v)),
      );
      const ints = maskedFill(tensor([1, 2, 3], { dtype: 'i32' }), mask([1, 0, 0]), 7);
      expect(ints.dtype).toBe('i32');
      expect(valuesOf(ints)).toEqual([7, 2, 3]);
      expect(
        valuesOf(
          maskedFill(
            transpose(
              tensor([
                [1, 2],
                [3, 4],
              ]),
            ),
            mask([1, 0]),
            0,
          ),
        ),
      ).toEqual([0, 3, 0, 4]);
      expect(maskedFill(uniform([0, 2], 18), mask([1, 1]), 0).shape).toEqual([0, 2]);
    });
  });

  it('refuses a mask that would broadcast the input, or is not u8', () => {
    scope(() => {
      expect(() => maskedFill(uniform([3], 19), mask([1, 0, 1], [1, 3]), 0)).toThrow(
        /maskedFill.*\[1, 3\].*\[3\]/,
      );
      expect(() => maskedFill(uniform([3], 20), uniform([3], 21), 0)).toThrow(
        /maskedFill.*u8.*f64/,
      );
    });
  });

  it('gradchecks the input and zeroes the gradient where filled', () => {
    scope(() => {
      const m = mask([0, 1, 0, 1], [2, 2]);
      expectGradOk(gradcheck((x) => maskedFill(x!, m, 3), [uniform([3, 2, 2], 22)]));
      const x = tensor(new Float64Array([1, 2, 3, 4]), { shape: [2, 2] });
      x.requiresGrad = true;
      const [g] = grad(sum(mul(maskedFill(x, m, -5), 2)), [x]);
      expect(valuesOf(g!)).toEqual([2, 0, 2, 0]);
      g!.dispose();
    });
  });
});

describe('cast', () => {
  it('truncates floats toward zero and wraps integers like C', () => {
    scope(() => {
      const x = tensor(
        new Float64Array([-2.7, -0.5, 0.9, 3.99, 2147483648.5, -2147483649, Number.NaN, 300.5]),
      );
      expect(valuesOf(cast(x, 'i32'))).toEqual([-2, 0, 0, 3, -2147483648, 2147483647, 0, 300]);
      expect(valuesOf(cast(x, 'i8'))).toEqual([-2, 0, 0, 3, 0, -1, 0, 44]);
      expect(valuesOf(cast(x, 'u8'))).toEqual([254, 0, 0, 3, 0, 255, 0, 44]);
      expect(valuesOf(cast(tensor([-1, 256, 128], { dtype: 'i32' }), 'u8'))).toEqual([255, 0, 128]);
      expect(valuesOf(cast(tensor([200, 255], { dtype: 'u8' }), 'i8'))).toEqual([-56, -1]);
      expect(valuesOf(cast(tensor([-7, 16777217], { dtype: 'i32' }), 'f32'))).toEqual([
        -7, 16777216,
      ]);
      expect(valuesOf(cast(tensor([1, 0], { dtype: 'u8' }), 'f64'))).toEqual([1, 0]);
    });
  });

  it('rounds f32 to f16 and bf16 to nearest, ties to even', () => {
    scope(() => {
      // 1 + 2^-11 ties between 1 and 1 + 2^-10 (f16): even is 1. 1 + 3 * 2^-11: even is 1 + 2^-9.
      const f16 = cast(tensor([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 1e-8, -0.1]), 'f16');
      expect(f16.dtype).toBe('f16');
      expect(Array.from(f16.rawSync(), fromF16Bits)).toEqual([
        1,
        1 + 2 ** -9,
        Number.POSITIVE_INFINITY,
        0,
        fromF16Bits(0xae66),
      ]);
      const bf16 = cast(tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3e38]), 'bf16');
      expect(Array.from(bf16.rawSync(), fromBf16Bits)).toEqual([
        1,
        1 + 2 ** -6,
        fromBf16Bits(0x7f78),
      ]);
      expect(valuesOf(cast(f16, 'f32'))).toEqual(valuesOf(f16));
    });
  });

  it('returns a contiguous tensor of the same values for its own dtype', () => {
    scope(() => {
      const x = uniform([2, 3], 23);
      const same = cast(x, 'f64');
      expect(same.storage).toBe(x.storage);
      const t = transpose(x);
      const copy = cast(t, 'f64');
      expect(copy.isContiguous).toBe(true);
      expect(valuesOf(copy)).toEqual(valuesOf(t));
      expect(cast(slice(t, [1], [3]), 'f32').shape).toEqual([2, 2]);
      expect(cast(uniform([0, 4], 24), 'i32').shape).toEqual([0, 4]);
    });
  });

  it('refuses an unknown dtype', () => {
    scope(() => {
      expect(() => cast(tensor([1]), 'f8' as DType)).toThrow(/cast.*f8/);
    });
  });

  it('passes the gradient back in the input dtype, and none through integers', () => {
    scope(() => {
      expectGradOk(gradcheck((x) => cast(x!, 'f64'), [uniform([3], 25)]));
      const x = uniform([3], 26);
      x.requiresGrad = true;
      const y = cast(x, 'f32');
      expect(y.requiresGrad).toBe(true);
      const [g] = grad(y, [x], { gradOutputs: [tensor([1.5, -2, 0.25])] });
      expect(g!.dtype).toBe('f64');
      expect(valuesOf(g!)).toEqual([1.5, -2, 0.25]);
      g!.dispose();
      expect(cast(x, 'i32').requiresGrad).toBe(false);
      // Back through a half: the gradient is rounded on the way down, then widened.
      const h = cast(x, 'f16');
      const [gh] = grad(sum(mul(h, 3)), [x]);
      expect(valuesOf(gh!)).toEqual([3, 3, 3]);
      gh!.dispose();
    });
  });
});

describe('leaks', () => {
  it('frees every temporary forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const a = uniform([2, 3], 27);
        const b = uniform([3], 28);
        a.requiresGrad = true;
        b.requiresGrad = true;
        const c = greater(a, b);
        const y = maskedFill(where(c, a, cast(cast(b, 'f32'), 'f64')), logicalNot(c), 0.5);
        sum(mul(y, y)).backward();
        expect(a.grad!.shape).toEqual([2, 3]);
        expect(b.grad!.shape).toEqual([3]);
        for (const [, op] of comparisons) op(a, 0.25);
      }),
    );
  });
});
