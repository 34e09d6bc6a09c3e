import { contiguousStrides, SlimlmError } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { collapse } from '../src/kernels/layout';
import { batchStride } from '../src/kernels/matmul';

/** Every element offset a layout visits, in order, per operand. */
function offsets(dims: readonly number[], strides: readonly (readonly number[])[]): number[][] {
  const size = dims.reduce((a, b) => a * b, 1);
  return strides.map((s) =>
    Array.from({ length: size }, (_, linear) => {
      let rest = linear;
      let at = 0;
      for (let axis = dims.length - 1; axis >= 0; axis--) {
        at += (rest % dims[axis]!) * s[axis]!;
        rest = Math.floor(rest / dims[axis]!);
      }
      return at;
    }),
  );
}

describe('collapsing layouts for the kernels', () => {
  it('makes a contiguous tensor one axis', () => {
    expect(collapse('t', [2, 3, 4], [contiguousStrides([2, 3, 4])])).toEqual({
      dims: [24],
      strides: [[1]],
    });
  });

  it('keeps the axes where some operand breaks the run, and drops axes of size 1', () => {
    // out contiguous [2, 1, 3, 4]; a broadcast along axis 2 (stride 0).
    const shape = [2, 1, 3, 4];
    const layout = collapse('t', shape, [contiguousStrides(shape), [4, 4, 0, 1]]);
    expect(layout).toEqual({
      dims: [2, 3, 4],
      strides: [
        [12, 4, 1],
        [4, 0, 1],
      ],
    });
  });

  it('visits exactly the elements of the original layout, in order', () => {
    const shapes: [number[], number[][]][] = [
      [
        [3, 4, 5],
        [contiguousStrides([3, 4, 5]), [1, 3, 12]],
      ],
      [
        [2, 3, 1, 4],
        [
          [12, 4, 4, 1],
          [0, 4, 99, 1],
        ],
      ],
      [
        [4, 6],
        [
          [6, 1],
          [1, 4],
        ],
      ],
      [[5], [[2], [0]]],
    ];
    for (const [shape, strides] of shapes) {
      const layout = collapse('t', shape, strides);
      expect(offsets(layout.dims, layout.strides)).toEqual(offsets(shape, strides));
    }
  });

  it('gives scalars one element and empty tensors none', () => {
    expect(collapse('t', [], [[], []])).toEqual({ dims: [1], strides: [[0], [0]] });
    expect(collapse('t', [3, 0, 2], [[0, 2, 1]])).toEqual({ dims: [0], strides: [[0]] });
  });

  it('refuses more than 8 dims that do not merge, naming the op', () => {
    const shape = [2, 2, 2, 2, 2, 2, 2, 2, 2];
    const strides = shape.map((_, i) => 3 ** (shape.length - i));
    expect(() => collapse('where', shape, [strides])).toThrow(SlimlmError);
    expect(() => collapse('where', shape, [strides])).toThrow(
      /^where: the cuda kernels take at most 8/,
    );
  });
});

describe('batch strides of matmul operands', () => {
  it('walk contiguous or broadcast batches as one axis, and give up on anything else', () => {
    expect(batchStride([2, 3], [36, 12])).toBe(12);
    expect(batchStride([2, 3], [0, 0])).toBe(0);
    expect(batchStride([1, 3], [99, 12])).toBe(12);
    expect(batchStride([], [])).toBe(0);
    expect(batchStride([2, 3], [12, 36])).toBeUndefined();
    expect(batchStride([2, 3], [12, 0])).toBeUndefined();
  });
});
