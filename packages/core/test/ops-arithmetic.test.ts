import { describe, expect, it } from 'vitest';
import {
  add,
  broadcastTo,
  cast,
  div,
  grad,
  mul,
  neg,
  scope,
  slice,
  sub,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectGradOk, expectNoLeak, uniform, valuesOf } from './helpers';

type Binary = (a: Tensor | number, b: Tensor | number) => Tensor;

const binaryOps: [string, Binary, (a: number, b: number) => number][] = [
  ['add', add, (a, b) => a + b],
  ['sub', sub, (a, b) => a - b],
  ['mul', mul, (a, b) => a * b],
  ['div', div, (a, b) => a / b],
];

// Pairs of shapes that broadcast: trailing alignment, size-1 axes on either side, 0-d, odd sizes.
const broadcastPairs: [number[], number[]][] = [
  [
    [3, 5, 7],
    [3, 5, 7],
  ],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [[4], [2, 1, 4]],
  [[1], [3, 2]],
  [[], [2, 3]],
  [
    [3, 1, 5],
    [1, 4, 1],
  ],
];

/** Index of `out`'s row-major position `i` in an operand of `shape` broadcast to `out`. */
function broadcastIndex(i: number, out: number[], shape: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  const offset = out.length - shape.length;
  const coords = new Array<number>(out.length);
  for (let axis = out.length - 1; axis >= 0; axis--) {
    coords[axis] = rest % out[axis]!;
    rest = Math.floor(rest / out[axis]!);
  }
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const d = shape[axis]!;
    index += (d === 1 ? 0 : coords[axis + offset]!) * stride;
    stride *= d;
  }
  return index;
}

describe('add, sub, mul, div: forward', () => {
  for (const [name, op, reference] of binaryOps) {
    it(`${name} broadcasts like numpy`, () => {
      scope(() => {
        for (const [sa, sb] of broadcastPairs) {
          const a = uniform(sa, 1);
          const b = uniform(sb, 2, 0.5, 2);
          const y = op(a, b);
          const out = y.shape as number[];
          const av = valuesOf(a);
          const bv = valuesOf(b);
          const expected = Array.from({ length: y.size }, (_, i) =>
            reference(av[broadcastIndex(i, out, sa)]!, bv[broadcastIndex(i, out, sb)]!),
          );
          expect(valuesOf(y)).toEqual(expected);
        }
      });
    });

    it(`${name} takes numbers on either side, views and empty tensors`, () => {
      scope(() => {
        const x = transpose(uniform([3, 4], 3, 0.5, 2));
        expect(x.isContiguous).toBe(false);
        const v = valuesOf(x);
        expect(valuesOf(op(x, 1.5))).toEqual(v.map((e) => reference(e, 1.5)));
        expect(valuesOf(op(1.5, x))).toEqual(v.map((e) => reference(1.5, e)));
        expect(op(uniform([0, 3], 4), uniform([1, 3], 5)).shape).toEqual([0, 3]);
      });
    });
  }

  it('keeps integer arithmetic exact and wrapping; neg too', () => {
    scope(() => {
      const a = tensor([2147483647, -5, 46341], { dtype: 'i32' });
      expect(add(a, 1).toArray()).toEqual([-2147483648, -4, 46342]);
      expect(mul(a, a).toArray()).toEqual([
        Math.imul(2147483647, 2147483647),
        25,
        Math.imul(46341, 46341),
      ]);
      expect(neg(tensor([-128, 5], { dtype: 'i8' })).toArray()).toEqual([-128, -5]);
    });
  });

  it('computes halves in f64 and rounds once', () => {
    scope(() => {
      const a = cast(uniform([4, 5], 6), 'f16');
      const b = cast(uniform([5], 7, 0.5, 2), 'f16');
      const a32 = cast(a, 'f32');
      const b32 = cast(b, 'f32');
      for (const [, op] of binaryOps) {
        const y = op(a, b);
        expect(y.dtype).toBe('f16');
        const expected = valuesOf(op(a32, b32));
        const actual = valuesOf(y);
        for (let i = 0; i < actual.length; i++) {
          const bound = 2 ** -11 * Math.abs(expected[i]!);
          expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(bound);
        }
      }
    });
  });

  it('refuses mixed dtypes and shapes that do not broadcast, naming both', () => {
    scope(() => {
      expect(() => add(tensor([1]), tensor([1], { dtype: 'i32' }))).toThrow(/add.*f32.*i32/);
      expect(() => mul(uniform([2, 3], 8), uniform([4], 9))).toThrow(/mul.*\[2, 3\].*\[4\]/);
      expect(() => div(tensor([1], { dtype: 'i32' }), 2)).toThrow(/div.*i32/);
    });
  });
});

describe('add, sub, mul, div, neg: gradients', () => {
  for (const [name, op] of binaryOps) {
    it(`gradchecks ${name} over broadcast shapes, summing back to each operand`, () => {
      scope(() => {
        for (const [sa, sb] of broadcastPairs) {
          // Divisors stay away from 0.
          const a = uniform(sa, 10);
          const b = uniform(sb, 11, 0.5, 2);
          expectGradOk(gradcheck((x, y) => op(x!, y!), [a, b]));
        }
      });
    });

    it(`gradchecks ${name} with a number and with non-contiguous operands`, () => {
      scope(() => {
        const a = uniform([4, 3], 12, 0.5, 2);
        expectGradOk(gradcheck((x) => op(x!, 1.7), [a]));
        expectGradOk(gradcheck((x) => op(-0.6, x!), [a]));
        expectGradOk(
          gradcheck(
            (x, y) => op(transpose(x!), slice(y!, [1], [5])),
            [a, uniform([5], 13, 0.5, 2)],
          ),
        );
        expectGradOk(gradcheck((x) => op(broadcastTo(x!, [2, 4, 3]), x!), [a]));
      });
    });
  }

  it('gradchecks neg, and a chain using one input twice', () => {
    scope(() => {
      const a = uniform([3, 5, 7], 14, 0.5, 2);
      expectGradOk(gradcheck((x) => neg(x!), [a]));
      expectGradOk(
        gradcheck(
          (x, y) => div(sub(mul(x!, y!), neg(x!)), add(y!, 3)),
          [uniform([2, 3], 15), uniform([3], 16, 0.5, 2)],
        ),
      );
    });
  });

  it('gives empty operands empty gradients', () => {
    scope(() => {
      const a = uniform([0, 3], 17);
      const b = uniform([3], 18);
      a.requiresGrad = true;
      b.requiresGrad = true;
      const [ga, gb] = grad(sum(mul(a, b)), [a, b]);
      expect(ga!.shape).toEqual([0, 3]);
      expect(valuesOf(gb!)).toEqual([0, 0, 0]);
      ga!.dispose();
      gb!.dispose();
    });
  });

  it('leaks no tensors forward or backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const a = uniform([2, 3], 19);
        const b = uniform([3], 20, 0.5, 2);
        a.requiresGrad = true;
        b.requiresGrad = true;
        sum(div(neg(mul(sub(add(a, b), 1), b)), b)).backward();
        expect(a.grad!.shape).toEqual([2, 3]);
        expect(b.grad!.shape).toEqual([3]);
      }),
    );
  });
});
