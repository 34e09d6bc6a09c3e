import { describe, expect, it } from 'vitest';
import {
  add,
  backward,
  cast,
  grad,
  greater,
  isGradEnabled,
  memory,
  mul,
  neg,
  noGrad,
  reshape,
  scope,
  sum,
  tensor,
  zeros,
} from '../src/index';
import { errorOf, leaf, trackLeaks, valuesOf } from './helpers';

trackLeaks({ bytes: true });

describe('backward', () => {
  it('accumulates into .grad across two backward calls', () => {
    scope(() => {
      const x = leaf([1, -2, 3]);
      sum(mul(x, x)).backward();
      expect(valuesOf(x.grad)).toEqual([2, -4, 6]);
      backward(sum(mul(x, 3)));
      expect(valuesOf(x.grad)).toEqual([5, -1, 9]);
    });
  });

  it('allows a second pass with retainGraph and refuses one without it, naming the op', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const z = sum(mul(x, x));
      z.backward({ retainGraph: true });
      z.backward();
      expect(valuesOf(x.grad)).toEqual([4, 8]);
      const error = errorOf(() => z.backward());
      expect(error.code).toBe('AUTOGRAD');
      expect(error.message).toMatch(/'sum'.*already freed.*retainGraph/);
    });
  });

  it('leaks nothing when a second backward is refused outside any scope', () => {
    const x = leaf([1, 2]);
    const squares = mul(x, x);
    const z = sum(squares);
    z.backward();
    const afterFirst = memory('reference');
    expect(() => z.backward()).toThrow(/already freed/);
    expect(memory('reference').tensors).toBe(afterFirst.tensors);
    z.dispose();
    squares.dispose();
    x.dispose();
  });

  it('needs a gradient for a non-scalar output, shaped like it', () => {
    scope(() => {
      const x = leaf([1, 2, 3]);
      const y = mul(x, x);
      const missing = errorOf(() => y.backward({ retainGraph: true }));
      expect(missing.code).toBe('AUTOGRAD');
      expect(missing.message).toMatch(/\[3\].*pass a gradient/);
      const wrongShape = errorOf(() =>
        y.backward({ gradient: zeros([2], { dtype: 'f64' }), retainGraph: true }),
      );
      expect(wrongShape.code).toBe('SHAPE_MISMATCH');
      expect(wrongShape.message).toMatch(/\[2\].*\[3\]/);
      y.backward({ gradient: tensor(Float64Array.from([1, 0, -1])) });
      expect(valuesOf(x.grad)).toEqual([2, 0, -6]);
    });
  });

  it('refuses an output that does not require a gradient', () => {
    scope(() => {
      const plain = sum(tensor([1, 2]));
      const error = errorOf(() => plain.backward());
      expect(error.code).toBe('AUTOGRAD');
      expect(error.message).toMatch(/does not require a gradient/);
    });
  });

  it('seeds a scalar leaf with one', () => {
    scope(() => {
      const x = leaf([4], []);
      x.backward();
      expect(x.grad!.toArray()).toBe(1);
    });
  });

  it('sums the gradients of a diamond: x feeding two ops that meet again', () => {
    scope(() => {
      const x = leaf([1, 2, -3]);
      // c = (3x) * (x*x) = 3x^3, so dc/dx = 9x^2.
      sum(mul(mul(x, 3), mul(x, x))).backward();
      expect(valuesOf(x.grad)).toEqual([9, 36, 81]);
    });
  });

  it('sums the gradients of an intermediate used twice', () => {
    scope(() => {
      const x = leaf([1, 2, -3]);
      const t = mul(x, x);
      sum(add(t, mul(t, t))).backward();
      // d(x^2 + x^4)/dx = 2x + 4x^3
      expect(valuesOf(x.grad)).toEqual([6, 36, -114]);
    });
  });

  it('sums the gradients of a leaf used by two ops', () => {
    scope(() => {
      const x = leaf([1, 2]);
      sum(add(mul(x, 2), neg(x))).backward();
      expect(valuesOf(x.grad)).toEqual([1, 1]);
      const y = leaf([5, 7]);
      sum(add(y, y)).backward();
      expect(valuesOf(y.grad)).toEqual([2, 2]);
    });
  });
});

describe('grad', () => {
  it('returns gradients without touching .grad', () => {
    scope(() => {
      const x = leaf([1, 2, 3]);
      const w = leaf([0.5, -1, 2]);
      const [gx, gw] = grad(sum(mul(x, w)), [x, w]);
      expect(valuesOf(gx)).toEqual([0.5, -1, 2]);
      expect(valuesOf(gw)).toEqual([1, 2, 3]);
      expect(x.grad).toBeNull();
      expect(w.grad).toBeNull();
      gx!.dispose();
      gw!.dispose();
    });
  });

  it('differentiates with respect to an intermediate tensor and to an output itself', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const y = mul(x, x);
      const z = sum(mul(y, 3));
      const [gy, gz, gx] = grad(z, [y, z, x]);
      expect(valuesOf(gy)).toEqual([3, 3]);
      expect(gz!.toArray()).toBe(1);
      expect(valuesOf(gx)).toEqual([6, 12]);
      for (const g of [gy, gz, gx]) g!.dispose();
    });
  });

  it('takes gradients for several non-scalar outputs', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const a = mul(x, 2);
      const b = mul(x, x);
      const [g] = grad([a, b], [x], {
        gradOutputs: [tensor(Float64Array.from([1, 1])), tensor(Float64Array.from([1, -1]))],
      });
      expect(valuesOf(g)).toEqual([4, -2]);
      g!.dispose();
    });
  });

  it('refuses an unused input unless allowUnused', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const unused = leaf([3]);
      const z = sum(mul(x, x));
      const error = errorOf(() => grad(z, [unused], { retainGraph: true }));
      expect(error.code).toBe('AUTOGRAD');
      expect(error.message).toMatch(/input 0 \[1\] is not used.*allowUnused/);
      const [gx, gUnused] = grad(z, [x, unused], { allowUnused: true });
      expect(valuesOf(gx)).toEqual([2, 4]);
      expect(gUnused).toBeNull();
      gx!.dispose();
    });
  });

  it('leaks no gradient when it refuses an unused input after a used one', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const unused = leaf([3]);
      const z = sum(mul(x, x));
      expect(() => grad(z, [x, unused])).toThrow(/not used/);
    });
  });

  it('leaks nothing when it refuses an unused input after the output itself', () => {
    scope(() => {
      const x = leaf([1, 2]);
      const unused = leaf([3]);
      const z = sum(mul(x, x));
      expect(() => grad(z, [z, unused])).toThrow(/input 1 \[1\] is not used/);
    });
  });
});

describe('recording', () => {
  it('records nothing under noGrad', () => {
    scope(() => {
      const x = leaf([1, 2]);
      expect(isGradEnabled()).toBe(true);
      const y = noGrad(() => {
        expect(isGradEnabled()).toBe(false);
        return mul(reshape(x, [2, 1]), 2);
      });
      expect(isGradEnabled()).toBe(true);
      expect(y.requiresGrad).toBe(false);
      expect(y.gradNode).toBeNull();
      expect(() =>
        noGrad(() => {
          throw new Error('inside');
        }),
      ).toThrow('inside');
      expect(isGradEnabled()).toBe(true);
    });
  });

  it('gives integer outputs no gradient', () => {
    scope(() => {
      const x = leaf([-1, 0.5, 2]);
      const mask = greater(x, 0);
      expect(mask.dtype).toBe('u8');
      expect(mask.requiresGrad).toBe(false);
      expect(mask.gradNode).toBeNull();
      const truncated = cast(x, 'i32');
      expect(truncated.requiresGrad).toBe(false);
      expect(truncated.gradNode).toBeNull();
      expect(mul(x, 2).requiresGrad).toBe(true);
    });
  });

  it('refuses requiresGrad on an integer tensor', () => {
    scope(() => {
      const indices = tensor([1, 2], { dtype: 'i32' });
      const error = errorOf(() => {
        indices.requiresGrad = true;
      });
      expect(error.code).toBe('DTYPE_MISMATCH');
      expect(error.message).toMatch(/requiresGrad.*i32/);
      expect(indices.requiresGrad).toBe(false);
      indices.requiresGrad = false;
    });
  });
});
