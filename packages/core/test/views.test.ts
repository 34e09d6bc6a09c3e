import { describe, expect, it } from 'vitest';
import {
  add,
  arange,
  assign,
  broadcastTo,
  contiguous,
  detach,
  grad,
  memory,
  mul,
  type NestedArray,
  narrow,
  permute,
  reshape,
  scope,
  slice,
  squeeze,
  sum,
  type Tensor,
  tensor,
  transpose,
  unsqueeze,
  zeros,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { errorOf, f64, trackLeaks } from './helpers';

/** 0, 1, 2, ... laid out in `shape` (f64). */
function iota(shape: number[]): Tensor {
  return reshape(
    arange(
      shape.reduce((a, b) => a * b, 1),
      undefined,
      1,
      { dtype: 'f64' },
    ),
    shape,
  );
}

/** A nested array of `shape` whose entry at index `i` is `at(i)`: the independent expectation. */
function build(
  shape: readonly number[],
  at: (index: number[]) => number,
  prefix: number[] = [],
): NestedArray {
  if (prefix.length === shape.length) return at(prefix);
  return Array.from({ length: shape[prefix.length]! }, (_, i) => build(shape, at, [...prefix, i]));
}

/** Row-major position of `index` in a contiguous tensor of `shape`. */
function flatIndex(shape: readonly number[], index: readonly number[]): number {
  return index.reduce((position, i, axis) => position * shape[axis]! + i, 0);
}

/** Seeded-ish f64 values without structure, so that gradients of different elements differ. */
function wobbly(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return f64(
    Array.from({ length: size }, (_, i) => Math.sin(1.7 * i + 0.3) * 2),
    shape,
  );
}

trackLeaks();

describe('reshape', () => {
  it('views a contiguous tensor without copying, inferring one -1', () => {
    scope(() => {
      const x = iota([2, 3, 4]);
      const y = reshape(x, [4, -1]);
      expect(y.shape).toEqual([4, 6]);
      expect(y.strides).toEqual([6, 1]);
      expect(y.storage).toBe(x.storage);
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      expect(reshape(x, [-1]).shape).toEqual([24]);
      expect(reshape(tensor(5), [1, 1]).toArray()).toEqual([[5]]);
      expect(reshape(x, [2, 1, 12]).toArray()).toEqual(
        build([2, 1, 12], ([i, , k]) => i! * 12 + k!),
      );
    });
  });

  it('handles empty tensors', () => {
    scope(() => {
      const empty = zeros([0, 3]);
      expect(reshape(empty, [3, -1]).shape).toEqual([3, 0]);
      expect(reshape(empty, [-1, 3]).shape).toEqual([0, 3]);
      expect(reshape(empty, [0]).dataSync()).toHaveLength(0);
    });
  });

  it('keeps the offset of a contiguous slice', () => {
    scope(() => {
      const x = iota([4, 3]);
      const rows = slice(x, [1], [3]);
      expect(rows.isContiguous).toBe(true);
      const flat = reshape(rows, [6]);
      expect(flat.storage).toBe(x.storage);
      expect(flat.offset).toBe(3);
      expect(Array.from(flat.dataSync())).toEqual([3, 4, 5, 6, 7, 8]);
    });
  });

  it('copies a non-contiguous tensor', () => {
    scope(() => {
      const x = iota([2, 3]);
      const flat = reshape(transpose(x), [6]);
      expect(flat.storage).not.toBe(x.storage);
      expect(Array.from(flat.dataSync())).toEqual([0, 3, 1, 4, 2, 5]);
    });
  });

  it('names both shapes when the sizes differ', () => {
    scope(() => {
      const x = zeros([2, 3]);
      const inexact = errorOf(() => reshape(x, [4, -1]));
      expect(inexact.code).toBe('SHAPE_MISMATCH');
      expect(inexact.message).toMatch(/reshape.*\[2, 3\].*\[4, -1\]/);
      expect(() => reshape(x, [5])).toThrow(/reshape.*\[2, 3\].*\[5\]/);
      expect(() => reshape(x, [-2, -3])).toThrow(/reshape.*\[2, 3\].*\[-2, -3\]/);
      const twoUnknowns = errorOf(() => reshape(x, [-1, -1]));
      expect(twoUnknowns.code).toBe('INVALID_ARGUMENT');
      expect(twoUnknowns.message).toMatch(/reshape.*\[-1, -1\].*more than one -1/);
    });
  });
});

describe('permute and transpose', () => {
  it('reorders axes as a view with permuted strides', () => {
    scope(() => {
      const x = iota([2, 3, 4]);
      const p = permute(x, [2, 0, 1]);
      expect(p.shape).toEqual([4, 2, 3]);
      expect(p.strides).toEqual([1, 12, 4]);
      expect(p.storage).toBe(x.storage);
      expect(p.isContiguous).toBe(false);
      expect(p.toArray()).toEqual(
        build([4, 2, 3], ([i, j, k]) => flatIndex([2, 3, 4], [j!, k!, i!])),
      );
      expect(permute(x, [-1, 0, 1]).strides).toEqual([1, 12, 4]);
    });
  });

  it('transposes the last two axes by default, or any two', () => {
    scope(() => {
      const x = iota([2, 3, 4]);
      const t = transpose(x);
      expect(t.shape).toEqual([2, 4, 3]);
      expect(t.toArray()).toEqual(
        build([2, 4, 3], ([i, j, k]) => flatIndex([2, 3, 4], [i!, k!, j!])),
      );
      const outer = transpose(x, 0, 2);
      expect(outer.shape).toEqual([4, 3, 2]);
      expect(outer.strides).toEqual([1, 4, 12]);
      const back = transpose(t);
      expect(back.isContiguous).toBe(true);
      expect(back.toArray()).toEqual(x.toArray());
    });
  });

  it('refuses axes that are not a permutation', () => {
    scope(() => {
      const x = zeros([2, 3, 4]);
      expect(errorOf(() => permute(x, [0, 0, 1])).code).toBe('INVALID_ARGUMENT');
      expect(() => permute(x, [0, 0, 1])).toThrow(/permute.*\[0, 0, 1\]/);
      expect(() => permute(x, [1, 0])).toThrow(/permute/);
      expect(() => permute(x, [0, 1, 3])).toThrow(/permute.*axis 3/);
      expect(() => transpose(zeros([3]))).toThrow(/transpose.*axis -2/);
    });
  });
});

describe('slice and narrow', () => {
  it('counts negative bounds from the end', () => {
    scope(() => {
      const x = iota([4, 5]);
      const s = slice(x, [1, -3], [3, -1]);
      expect(s.shape).toEqual([2, 2]);
      expect(s.strides).toEqual([5, 1]);
      expect(s.offset).toBe(7);
      expect(s.storage).toBe(x.storage);
      expect(s.toArray()).toEqual([
        [7, 8],
        [12, 13],
      ]);
    });
  });

  it('clamps out-of-range bounds and takes missing axes whole', () => {
    scope(() => {
      const x = iota([4, 5]);
      expect(slice(x, [-10, 2], [100]).toArray()).toEqual(
        build([4, 3], ([i, j]) => i! * 5 + j! + 2),
      );
      expect(slice(x, [1], [undefined, 2]).toArray()).toEqual(
        build([3, 2], ([i, j]) => (i! + 1) * 5 + j!),
      );
      expect(slice(x, [2]).shape).toEqual([2, 5]);
    });
  });

  it('gives empty results for empty ranges', () => {
    scope(() => {
      const x = iota([4, 5]);
      const backwards = slice(x, [3], [1]);
      expect(backwards.shape).toEqual([0, 5]);
      expect(backwards.toArray()).toEqual([]);
      expect(slice(x, [0, 5]).shape).toEqual([4, 0]);
      expect(slice(x, [0, 5]).dataSync()).toHaveLength(0);
      expect(slice(x, [10]).shape).toEqual([0, 5]);
    });
  });

  it('composes with other views', () => {
    scope(() => {
      const x = iota([4, 5]);
      const inner = slice(slice(x, [1, 1]), [1, 1], [2, 3]);
      expect(inner.toArray()).toEqual([[12, 13]]);
      const ofTransposed = slice(transpose(x), [1, 2], [3, 4]);
      expect(ofTransposed.toArray()).toEqual([
        [11, 16],
        [12, 17],
      ]);
    });
  });

  it('refuses more bounds than axes', () => {
    scope(() => {
      const error = errorOf(() => slice(zeros([4, 5]), [0, 0, 0]));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(/slice.*rank 2 \[4, 5\]/);
    });
  });

  it('narrows one axis, with negative axis and start', () => {
    scope(() => {
      const x = iota([3, 5]);
      expect(narrow(x, 1, 1, 3).toArray()).toEqual(build([3, 3], ([i, j]) => i! * 5 + j! + 1));
      expect(narrow(x, -1, -2, 2).toArray()).toEqual(build([3, 2], ([i, j]) => i! * 5 + j! + 3));
      expect(narrow(x, 0, 1, 0).shape).toEqual([0, 5]);
      expect(narrow(x, 0, 2, 1).storage).toBe(x.storage);
      const error = errorOf(() => narrow(x, 1, 3, 3));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(/narrow.*axis 1 of size 5/);
      expect(() => narrow(x, 1, -6, 1)).toThrow(/narrow/);
      expect(() => narrow(x, 2, 0, 1)).toThrow(/narrow.*axis 2/);
    });
  });
});

describe('broadcastTo', () => {
  it('repeats size-1 and new leading axes with stride 0', () => {
    scope(() => {
      const column = f64([1, 2, 3], [3, 1]);
      const b = broadcastTo(column, [2, 3, 4]);
      expect(b.shape).toEqual([2, 3, 4]);
      expect(b.strides).toEqual([0, 1, 0]);
      expect(b.storage).toBe(column.storage);
      expect(b.toArray()).toEqual(build([2, 3, 4], ([, j]) => j! + 1));
      expect(broadcastTo(column, [3, 1]).strides).toEqual([1, 1]);
    });
  });

  it('names both shapes when they are incompatible', () => {
    scope(() => {
      const x = zeros([2, 3]);
      const error = errorOf(() => broadcastTo(x, [4]));
      expect(error.code).toBe('SHAPE_MISMATCH');
      expect(error.message).toMatch(/broadcastTo.*\[2, 3\].*\[4\]/);
      // Compatible shapes whose broadcast is not the target: [2, 3] would need to shrink.
      expect(() => broadcastTo(x, [3])).toThrow(/broadcastTo.*\[2, 3\].*\[3\]/);
      expect(() => broadcastTo(zeros([3]), [1])).toThrow(/broadcastTo.*\[3\].*\[1\]/);
    });
  });
});

describe('squeeze and unsqueeze', () => {
  it('removes size-1 axes, all or one', () => {
    scope(() => {
      const x = reshape(iota([6]), [2, 1, 3, 1]);
      expect(squeeze(x).shape).toEqual([2, 3]);
      expect(squeeze(x, 1).shape).toEqual([2, 3, 1]);
      expect(squeeze(x, -1).shape).toEqual([2, 1, 3]);
      expect(squeeze(x).storage).toBe(x.storage);
      expect(squeeze(x).toArray()).toEqual([
        [0, 1, 2],
        [3, 4, 5],
      ]);
      const error = errorOf(() => squeeze(x, 0));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(/squeeze.*axis 0 has size 2/);
    });
  });

  it('inserts a size-1 axis anywhere, appending at rank', () => {
    scope(() => {
      const y = iota([2, 3]);
      expect(unsqueeze(y, 0).shape).toEqual([1, 2, 3]);
      expect(unsqueeze(y, 1).shape).toEqual([2, 1, 3]);
      expect(unsqueeze(y, 2).shape).toEqual([2, 3, 1]);
      expect(unsqueeze(y, -1).shape).toEqual([2, 3, 1]);
      expect(unsqueeze(y, 1).storage).toBe(y.storage);
      expect(unsqueeze(y, 1).toArray()).toEqual([[[0, 1, 2]], [[3, 4, 5]]]);
      expect(() => unsqueeze(y, 4)).toThrow(/unsqueeze.*axis 4/);
    });
  });

  it('works on non-contiguous views', () => {
    scope(() => {
      const t = transpose(iota([2, 3]));
      expect(unsqueeze(t, 0).toArray()).toEqual([
        [
          [0, 3],
          [1, 4],
          [2, 5],
        ],
      ]);
      expect(squeeze(slice(t, [1], [2])).toArray()).toEqual([1, 4]);
    });
  });
});

describe('contiguous and detach', () => {
  it('copies only when the tensor is not contiguous', () => {
    scope(() => {
      const x = iota([2, 3]);
      const same = contiguous(x);
      expect(same.storage).toBe(x.storage);
      const t = transpose(x);
      const dense = contiguous(t);
      expect(dense.storage).not.toBe(x.storage);
      expect(dense.isContiguous).toBe(true);
      expect(dense.strides).toEqual([2, 1]);
      expect(dense.toArray()).toEqual(t.toArray());
      const broadcast = contiguous(broadcastTo(f64([1, 2], [2]), [3, 2]));
      expect(broadcast.strides).toEqual([2, 1]);
      expect(broadcast.toArray()).toEqual([
        [1, 2],
        [1, 2],
        [1, 2],
      ]);
    });
  });

  it('detaches a handle on the same storage without gradient history', () => {
    scope(() => {
      const x = wobbly([3]);
      x.requiresGrad = true;
      const d = detach(x);
      expect(d.storage).toBe(x.storage);
      expect(d.requiresGrad).toBe(false);
      expect(d.gradNode).toBeNull();
      // Only the attached factor carries a gradient: d(d*x)/dx with d held constant is d.
      const [g] = grad(sum(mul(detach(x), x)), [x]);
      expect(Array.from(g!.dataSync())).toEqual(Array.from(x.dataSync()));
      g!.dispose();
    });
  });
});

describe('assign', () => {
  it('writes into a slice of a buffer, broadcasting the source', () => {
    scope(() => {
      const buffer = zeros([4, 3]);
      assign(
        slice(buffer, [1], [3]),
        tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]),
      );
      assign(slice(buffer, [3]), tensor([7, 8, 9]));
      assign(slice(buffer, [0, 2], [1]), tensor(-1));
      expect(buffer.toArray()).toEqual([
        [0, 0, -1],
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ]);
    });
  });

  it('writes through a transposed view and into f16 buffers', () => {
    scope(() => {
      const buffer = zeros([2, 3]);
      assign(
        transpose(buffer),
        tensor([
          [1, 2],
          [3, 4],
          [5, 6],
        ]),
      );
      expect(buffer.toArray()).toEqual([
        [1, 3, 5],
        [2, 4, 6],
      ]);
      const halves = zeros([3], { dtype: 'f16' });
      assign(slice(halves, [1]), tensor([1 / 3, 65520], { dtype: 'f16' }));
      expect(Array.from(halves.rawSync())).toEqual([0, 0x3555, 0x7c00]);
    });
  });

  it('refuses other dtypes, unbroadcastable shapes and targets that require a gradient', () => {
    scope(() => {
      const buffer = zeros([2, 3]);
      const dtype = errorOf(() => assign(buffer, zeros([2, 3], { dtype: 'f64' })));
      expect(dtype.code).toBe('DTYPE_MISMATCH');
      expect(dtype.message).toMatch(/assign.*f32.*f64/);
      expect(errorOf(() => assign(buffer, zeros([4]))).code).toBe('SHAPE_MISMATCH');
      const trained = zeros([2]);
      trained.requiresGrad = true;
      expect(errorOf(() => assign(trained, zeros([2]))).code).toBe('AUTOGRAD');
    });
  });
});

describe('reading views', () => {
  it('reads strided views in row-major order and leaks no temporary copy', () => {
    scope(() => {
      const x = iota([3, 4]);
      const views = [
        transpose(x),
        slice(x, [0, 1], [3, 3]),
        broadcastTo(slice(x, [1], [2]), [2, 4]),
        permute(reshape(x, [3, 2, 2]), [1, 2, 0]),
      ];
      const before = memory('reference').tensors;
      const read = views.map((v) => v.toArray());
      expect(memory('reference').tensors).toBe(before);
      expect(read[0]).toEqual(build([4, 3], ([i, j]) => j! * 4 + i!));
      expect(read[1]).toEqual(build([3, 2], ([i, j]) => i! * 4 + j! + 1));
      expect(read[2]).toEqual(build([2, 4], ([, j]) => 4 + j!));
      expect(read[3]).toEqual(build([2, 2, 3], ([i, j, k]) => k! * 4 + i! * 2 + j!));
      expect(Array.from(views[0]!.dataSync())).toEqual((read[0] as number[][]).flat());
      expect(slice(x, [2, 3]).item()).toBe(11);
    });
  });
});

describe('gradients through views', () => {
  const check = (f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], checked: number) => {
    const result = gradcheck(f, inputs);
    expect(result.worst).toBeNull();
    expect(result.ok).toBe(true);
    expect(result.checked).toBe(checked);
  };

  it('gradchecks reshape, of contiguous and of transposed inputs', () => {
    scope(() => {
      check((a) => reshape(a!, [3, -1]), [wobbly([2, 3, 2])], 12);
      check((a) => mul(reshape(transpose(a!), [-1]), reshape(a!, [6])), [wobbly([2, 3])], 6);
    });
  });

  it('gradchecks permute and transpose', () => {
    scope(() => {
      check((a) => permute(a!, [2, 0, 1]), [wobbly([2, 3, 4])], 24);
      check((a) => transpose(a!, 0, 2), [wobbly([2, 3, 4])], 24);
    });
  });

  it('gradchecks slice and narrow', () => {
    scope(() => {
      check((a) => slice(a!, [1, -3], [3, -1]), [wobbly([4, 5])], 20);
      check((a) => slice(a!, [3], [1]), [wobbly([4, 5])], 20);
      check((a) => narrow(a!, -1, 1, 2), [wobbly([3, 4])], 12);
      check((a) => slice(transpose(a!), [1, 0], [3, 2]), [wobbly([3, 4])], 12);
    });
  });

  it('gradchecks broadcastTo (summing over the repeated axes)', () => {
    scope(() => {
      check((a) => broadcastTo(a!, [2, 3, 4]), [wobbly([3, 1])], 3);
      check((a) => broadcastTo(a!, [3, 5]), [wobbly([5])], 5);
    });
  });

  it('gradchecks squeeze, unsqueeze and contiguous of a transposed view', () => {
    scope(() => {
      check((a) => squeeze(a!), [wobbly([2, 1, 3, 1])], 6);
      check((a) => squeeze(a!, 1), [wobbly([2, 1, 3])], 6);
      check((a) => unsqueeze(a!, -1), [wobbly([2, 3])], 6);
      check((a) => contiguous(transpose(a!)), [wobbly([3, 4])], 12);
      check((a) => contiguous(a!), [wobbly([3, 4])], 12);
    });
  });

  it('gradchecks a chain of views feeding arithmetic', () => {
    scope(() => {
      check(
        (a, b) =>
          add(
            mul(slice(transpose(a!), [1], [3]), broadcastTo(b!, [2, 3])),
            unsqueeze(squeeze(narrow(a!, 1, 0, 1)), 0),
          ),
        [wobbly([3, 4]), wobbly([3])],
        15,
      );
    });
  });
});
