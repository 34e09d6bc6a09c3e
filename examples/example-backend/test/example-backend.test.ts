import {
  add,
  assign,
  broadcastTo,
  capabilities,
  contiguous,
  exp,
  getKernel,
  grad,
  type KernelFn,
  listBackends,
  matmul,
  max,
  memory,
  mul,
  neg,
  registerKernel,
  SlimlmError,
  scope,
  slice,
  softmax,
  sum,
  type Tensor,
  tensor,
  toBackend,
  transpose,
  unregisterKernel,
  withBackend,
  zeros,
} from '@slimlm/core';
import { conformanceCases, gradcheck, runConformance, sample } from '@slimlm/core/testing';
import { describe, expect, it } from 'vitest';
import { EXAMPLE, squaredDifference } from '../src/index';

// The ops this backend implements: capabilities() must report exactly these.
const KERNELS = [
  'add',
  'copy',
  'div',
  'exp',
  'fill',
  'matmul',
  'mul',
  'neg',
  'softmax',
  'squaredDifference',
  'sub',
  'sum',
];

/** Runs `fn` on the example backend inside a scope. */
function onExample<T>(fn: () => T): T {
  return withBackend(EXAMPLE, () => scope(fn));
}

/**
 * Runs `fn` with a spy wrapping the example backend's kernel of `op`; returns, for each call,
 * whether each input the kernel received was contiguous.
 */
function contiguityOfInputs(op: string, fn: () => void): boolean[][] {
  const original = getKernel(op, EXAMPLE)!;
  const calls: boolean[][] = [];
  const spy: KernelFn = (args) => {
    calls.push(args.inputs.map((t) => t.isContiguous));
    original(args);
  };
  registerKernel({ op, backend: EXAMPLE, fn: spy });
  try {
    fn();
  } finally {
    registerKernel({ op, backend: EXAMPLE, fn: original });
  }
  return calls;
}

/** The SlimlmError `fn` throws. */
function errorOf(fn: () => unknown): SlimlmError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SlimlmError) return error;
    throw error;
  }
  throw new Error('expected a SlimlmError, nothing was thrown');
}

describe('example backend', () => {
  it('registers below the reference backend and says what it can do', () => {
    const entry = listBackends().find((b) => b.name === EXAMPLE);
    expect(entry?.priority).toBe(-1);
    expect(scope(() => tensor([1]).backend.name)).toBe('reference');
    expect(capabilities(EXAMPLE)).toEqual({
      name: EXAMPLE,
      dtypes: ['f32', 'i32', 'u8'],
      stridedInputs: false,
      kernels: KERNELS,
    });
  });

  it('passes conformance for every op it has, and lists the rest as lacking', () => {
    const squaredDifferenceCase = {
      name: 'squaredDifference of a transposed view',
      op: 'squaredDifference',
      build: () => squaredDifference(transpose(sample([4, 3], 1)), sample([3, 4], 2)),
    };
    const cases = [...conformanceCases(), squaredDifferenceCase];
    const lacks = [...new Set(cases.map((c) => c.op))].filter((op) => !KERNELS.includes(op));
    const results = runConformance(EXAMPLE, { lacks, cases });
    expect(results.filter((r) => r.status === 'fail')).toEqual([]);
    const checked = new Set(results.filter((r) => r.status === 'pass').map((r) => r.op));
    expect([...checked].sort()).toEqual(KERNELS);
  });

  it('refuses an op it lacks, naming the op and the backend', () => {
    onExample(() => {
      const error = errorOf(() => max(tensor([1, -2, 3])));
      expect(error.code).toBe('NO_KERNEL');
      expect(error.message).toMatch(
        /op 'max' has no kernel on backend 'example' \(kernels exist on: reference/,
      );
    });
  });

  it('refuses dtypes it cannot store', () => {
    onExample(() => {
      expect(() => tensor(new Float64Array([1, 2]))).toThrow(
        /backend 'example' does not support dtype f64/,
      );
    });
  });

  it('gets strided inputs made contiguous before its kernels see them', () => {
    const calls = contiguityOfInputs('add', () => {
      onExample(() => {
        const x = tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]);
        const xt = transpose(x);
        expect(xt.isContiguous).toBe(false);
        const y = add(xt, tensor([10, 20]));
        expect(y.toArray()).toEqual([
          [11, 24],
          [12, 25],
          [13, 26],
        ]);
      });
    });
    expect(calls).toEqual([[true, true]]);
  });

  it('copies between any strides: broadcast views, slices and in-place assignment', () => {
    onExample(() => {
      const row = tensor([1, 2, 3]);
      expect(contiguous(broadcastTo(row, [2, 3])).toArray()).toEqual([
        [1, 2, 3],
        [1, 2, 3],
      ]);
      const target = zeros([3, 4]);
      assign(
        slice(target, [1, 1], [3, 4]),
        transpose(tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] })),
      );
      expect(target.toArray()).toEqual([
        [0, 0, 0, 0],
        [0, 1, 3, 5],
        [0, 2, 4, 6],
      ]);
      const odd = slice(transpose(sample([5, 7], 3)), [1, 2]);
      expect(contiguous(odd).dataSync()).toEqual(odd.dataSync());
    });
  });

  it('wraps integers like their dtype', () => {
    onExample(() => {
      const big = tensor([2147483647, 65536], { dtype: 'i32' });
      expect(add(big, 1).toArray()).toEqual([-2147483648, 65537]);
      expect(mul(big, tensor([2, 65536], { dtype: 'i32' })).toArray()).toEqual([-2, 0]);
      expect(add(tensor([250, 3], { dtype: 'u8' }), 10).toArray()).toEqual([4, 13]);
      const a = tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'i32' });
      expect(matmul(a, a).toArray()).toEqual([
        [7, 10],
        [15, 22],
      ]);
      expect(sum(tensor([2147483647, 1], { dtype: 'i32' })).item()).toBe(-2147483648);
    });
  });

  it('handles empty tensors', () => {
    onExample(() => {
      expect(sum(zeros([0, 3]), 0).toArray()).toEqual([0, 0, 0]);
      expect(matmul(zeros([2, 0]), zeros([0, 3])).toArray()).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      expect(exp(zeros([4, 0])).shape).toEqual([4, 0]);
    });
  });

  it('moves tensors to and from the reference backend', () => {
    scope(() => {
      const x = tensor([1.5, -2, 3]);
      const there = toBackend(x, EXAMPLE);
      expect(there.backend.name).toBe(EXAMPLE);
      expect(toBackend(there, 'reference').toArray()).toEqual([1.5, -2, 3]);
    });
  });

  it('gets gradients from core for free: sum(mul(x, w)).backward()', () => {
    onExample(() => {
      const x = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      const w = tensor([0.5, -1, 2]);
      x.requiresGrad = true;
      w.requiresGrad = true;
      sum(mul(x, w)).backward();
      expect(x.grad!.backend.name).toBe(EXAMPLE);
      expect(x.grad!.toArray()).toEqual([
        [0.5, -1, 2],
        [0.5, -1, 2],
      ]);
      expect(w.grad!.toArray()).toEqual([5, 7, 9]);
    });
  });

  it('computes the same gradients as the reference backend', () => {
    // A small attention-like score: every op in it has a kernel here, every gradient is core's.
    const loss = (a: Tensor, b: Tensor, c: Tensor) => {
      const scores = matmul(a, transpose(b));
      return sum(mul(softmax(scores, -1), exp(neg(squaredDifference(scores, c)))));
    };
    const run = (backend: string) =>
      withBackend(backend, () =>
        scope(() => {
          const inputs = [sample([2, 3, 4], 7), sample([5, 4], 8), sample([2, 3, 5], 9)];
          for (const t of inputs) t.requiresGrad = true;
          const [a, b, c] = inputs as [Tensor, Tensor, Tensor];
          return grad(loss(a, b, c), inputs).map((g) => Array.from(g!.dataSync()));
        }),
      );
    const expected = run('reference').flat();
    const actual = run(EXAMPLE).flat();
    expect(actual).toHaveLength(4 * 6 + 4 * 5 + 6 * 5);
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.01);
    actual.forEach((value, i) => {
      const reference = expected[i]!;
      expect(Math.abs(value - reference)).toBeLessThanOrEqual(1e-6 + 1e-4 * Math.abs(reference));
    });
  });

  it('frees everything it allocates, forward and backward', () => {
    const before = memory(EXAMPLE);
    onExample(() => {
      const a = sample([3, 4], 1);
      const b = sample([4, 5], 2);
      a.requiresGrad = true;
      b.requiresGrad = true;
      const y = sum(softmax(matmul(transpose(transpose(a)), b), 0));
      y.backward();
      expect(a.grad!.shape).toEqual([3, 4]);
    });
    const after = memory(EXAMPLE);
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });
});

describe('squaredDifference, an op defined outside core', () => {
  it('computes (a - b)^2 on both backends and checks its arguments', () => {
    for (const backend of ['reference', EXAMPLE]) {
      withBackend(backend, () =>
        scope(() => {
          const y = squaredDifference(tensor([1, 2, 3]), tensor([3, 2, -1]));
          expect(y.toArray()).toEqual([4, 0, 16]);
        }),
      );
    }
    scope(() => {
      expect(() => squaredDifference(zeros([2, 3]), zeros([3]))).toThrow(
        /squaredDifference: shapes \[2, 3\] and \[3\] differ/,
      );
      expect(() =>
        squaredDifference(zeros([2], { dtype: 'i32' }), zeros([2], { dtype: 'i32' })),
      ).toThrow(/squaredDifference: needs two float tensors.*i32 and i32/);
    });
  });

  it('has a gradient that passes gradcheck', () => {
    scope(() => {
      const a = tensor(new Float64Array([0.3, -1.2, 2.5, 0.7, 1.1, -0.4]), { shape: [2, 3] });
      const b = tensor(new Float64Array([0.5, 2, -3, 0.1, -0.6, 1.4]), { shape: [3, 2] });
      const result = gradcheck((x, y) => squaredDifference(x!, transpose(y!)), [a, b]);
      expect(result.ok).toBe(true);
      expect(result.checked).toBe(12);
    });
  });

  it('is refused by a backend without a kernel for it', () => {
    const original = getKernel('squaredDifference', EXAMPLE)!;
    unregisterKernel('squaredDifference', EXAMPLE);
    try {
      onExample(() => {
        expect(() => squaredDifference(tensor([1]), tensor([2]))).toThrow(
          /op 'squaredDifference' has no kernel on backend 'example'/,
        );
      });
    } finally {
      registerKernel({ op: 'squaredDifference', backend: EXAMPLE, fn: original });
    }
  });
});
