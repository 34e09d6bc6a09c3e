import { makeView, runKernel1, runKernelInto } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { track } from '../memory';
import {
  broadcastShapes,
  contiguousStrides,
  formatShape,
  normalizeAxis,
  type Shape,
  shapesEqual,
  sizeOf,
} from '../shape';
import { Tensor } from '../tensor';

// Views share storage with their source: no data moves. They are recorded for autograd like any op.

/** A contiguous tensor with `x`'s values: `x` itself re-viewed when already contiguous. */
export function contiguous(x: Tensor): Tensor {
  x.assertAlive('contiguous');
  if (x.isContiguous) return makeView('copy', x, x.shape, x.strides, x.offset, {});
  return runKernel1('copy', [x], {}, { shape: x.shape, dtype: x.dtype });
}

function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  const unknown = shape.indexOf(-1);
  if (shape.lastIndexOf(-1) !== unknown)
    throw invalidArgument('reshape', `shape ${formatShape(shape)} has more than one -1`);
  const resolved = [...shape];
  if (unknown >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== unknown));
    resolved[unknown] = known === 0 ? 0 : x.size / known;
  }
  if (resolved.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(resolved) !== x.size) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `reshape: cannot view ${formatShape(x.shape)} (${x.size} elements) as ${formatShape(shape)}`,
    );
  }
  return resolved;
}

/** The same elements with another shape (one dim may be -1). Copies only a non-contiguous `x`. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.assertAlive('reshape');
  const resolved = resolveShape(x, shape);
  if (x.isContiguous)
    return makeView('reshape', x, resolved, contiguousStrides(resolved), x.offset, {});
  const dense = contiguous(x);
  const view = makeView('reshape', dense, resolved, contiguousStrides(resolved), dense.offset, {});
  dense.dispose();
  return view;
}

/** Reorders axes: output axis i is input axis `dims[i]`. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertAlive('permute');
  const axes = dims.map((d) => normalizeAxis('permute', d, x.rank));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw invalidArgument(
      'permute',
      `dims ${formatShape(dims)} are not a permutation of ${x.rank} axes`,
    );
  }
  return makeView(
    'permute',
    x,
    axes.map((a) => x.shape[a]!),
    axes.map((a) => x.strides[a]!),
    x.offset,
    { dims: axes },
  );
}

/** Swaps two axes (by default the last two). */
export function transpose(x: Tensor, axisA = -2, axisB = -1): Tensor {
  const a = normalizeAxis('transpose', axisA, x.rank);
  const b = normalizeAxis('transpose', axisB, x.rank);
  const dims = Array.from({ length: x.rank }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

function clampIndex(index: number, dim: number): number {
  const i = index < 0 ? index + dim : index;
  return Math.min(Math.max(i, 0), dim);
}

/**
 * Python-style basic slicing `x[begin[0]:end[0], begin[1]:end[1], ...]`: negative indices count from
 * the end, out-of-range bounds are clamped, missing axes are taken whole.
 */
export function slice(
  x: Tensor,
  begin: readonly number[],
  end: readonly (number | undefined)[] = [],
): Tensor {
  x.assertAlive('slice');
  if (begin.length > x.rank || end.length > x.rank) {
    throw invalidArgument(
      'slice',
      `${Math.max(begin.length, end.length)} bounds given for a tensor of rank ${x.rank} ${formatShape(x.shape)}`,
    );
  }
  const starts = x.shape.map((d, i) => clampIndex(begin[i] ?? 0, d));
  const shape = x.shape.map((d, i) => Math.max(0, clampIndex(end[i] ?? d, d) - starts[i]!));
  const offset = x.offset + starts.reduce((sum, s, i) => sum + s * x.strides[i]!, 0);
  return makeView('slice', x, shape, x.strides, offset, { begin: starts });
}

/** `length` entries of `axis` starting at `start`. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normalizeAxis('narrow', axis, x.rank);
  const dim = x.shape[a]!;
  const from = start < 0 ? start + dim : start;
  if (from < 0 || length < 0 || from + length > dim) {
    throw invalidArgument(
      'narrow',
      `[${start}, ${start}+${length}) is out of range for axis ${axis} of size ${dim}`,
    );
  }
  const begin = x.shape.map((_, i) => (i === a ? from : 0));
  const end = x.shape.map((d, i) => (i === a ? from + length : d));
  return slice(x, begin, end);
}

/** Broadcasts `x` to `shape` (numpy rules) as a view with stride 0 along repeated axes. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  x.assertAlive('broadcastTo');
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!shapesEqual(target, shape)) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `broadcastTo: ${formatShape(x.shape)} cannot be broadcast to ${formatShape(shape)}`,
    );
  }
  const lead = shape.length - x.rank;
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    return x.shape[i - lead] === 1 && d !== 1 ? 0 : x.strides[i - lead]!;
  });
  return makeView('broadcastTo', x, shape, strides, x.offset, {});
}

/** Inserts a size-1 axis at `axis` (which may be `rank`, to append). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 axes: the given one, or all of them. */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normalizeAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1)
    throw invalidArgument('squeeze', `axis ${axis} has size ${x.shape[a]}, not 1`);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

/** A handle on the same storage with no gradient history (like torch's detach). */
export function detach(x: Tensor): Tensor {
  x.assertAlive('detach');
  const view = new Tensor(x.storage, x.shape, x.strides, x.offset, x.dtype);
  track(view);
  return view;
}

/**
 * Writes `source` (broadcast to `target`'s shape, same dtype) into `target` in place: the way to
 * fill a slice of a preallocated buffer, such as a KV cache. Not recorded for autograd.
 */
export function assign(target: Tensor, source: Tensor): void {
  if (target.dtype !== source.dtype) {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `assign: target is ${target.dtype} but source is ${source.dtype}`,
    );
  }
  const broadcast = shapesEqual(source.shape, target.shape)
    ? source
    : broadcastTo(source, target.shape);
  try {
    runKernelInto('copy', [broadcast], {}, target);
  } finally {
    if (broadcast !== source) broadcast.dispose();
  }
}
