import { SlimlmError } from '@slimlm/core';

/** The most dims a kernel takes after collapsing (kMaxDims in native/common/strided.h). */
export const MAX_DIMS = 8;

/** One shape and each operand's strides over it, as the native Indexer<N> takes them. */
export interface Layout {
  dims: number[];
  strides: number[][];
}

/**
 * The smallest layout that visits the same elements in the same order: axes of size 1 dropped,
 * and neighbouring axes merged wherever every operand steps across them as across one axis
 * (stride[i] = stride[i + 1] * dims[i + 1]). A contiguous tensor becomes one axis, so kernels
 * index most calls with no division at all. An empty shape (a scalar) is one element on one
 * axis; a shape with a zero is [0].
 */
export function collapse(
  op: string,
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Layout {
  if (shape.includes(0)) return { dims: [0], strides: strides.map(() => [0]) };
  const dims: number[] = [];
  const kept: number[][] = strides.map(() => []);
  for (let axis = 0; axis < shape.length; axis++) {
    const size = shape[axis]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => kept[k]![last] === s[axis]! * size);
    if (mergeable) {
      dims[last]! *= size;
      for (let k = 0; k < strides.length; k++) kept[k]![last] = strides[k]![axis]!;
    } else {
      dims.push(size);
      for (let k = 0; k < strides.length; k++) kept[k]!.push(strides[k]![axis]!);
    }
  }
  if (dims.length === 0) return { dims: [1], strides: strides.map(() => [0]) };
  if (dims.length > MAX_DIMS) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${op}: the cuda kernels take at most ${MAX_DIMS} non-mergeable dims, got ${dims.length} (shape [${shape.join(', ')}]); make the operands contiguous first`,
    );
  }
  return { dims, strides: kept };
}
