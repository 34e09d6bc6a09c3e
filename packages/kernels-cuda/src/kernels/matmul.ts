import { SlimlmError, type Tensor } from '@slimlm/core';
import type { NativeAddon } from '../native';
import {
  DTYPE_CODES,
  expectDTypes,
  FLOATS,
  registerCuda,
  type Temporaries,
  type View,
  viewOf,
} from './launch';

/**
 * The one stride that walks the batch axes of a view as a single axis (contiguous batches, or a
 * batch broadcast with stride 0), or undefined when there is none.
 */
export function batchStride(
  shape: readonly number[],
  strides: readonly number[],
): number | undefined {
  let count = 1;
  let stride = 0;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis]!;
    if (size === 1) continue;
    if (count === 1) stride = strides[axis]!;
    else if (strides[axis] !== stride * count) return undefined;
    count *= size;
  }
  return stride;
}

/** A [...batch, rows, cols] operand as the kernels take it: a copy when its batch is irregular. */
function matrixOperand(temps: Temporaries, t: Tensor) {
  let view: View = viewOf(t);
  const batchRank = t.rank - 2;
  let stride = batchStride(view.shape.slice(0, batchRank), view.strides.slice(0, batchRank));
  if (stride === undefined) {
    view = temps.dense(view);
    stride = t.shape[batchRank]! * t.shape[batchRank + 1]!;
  }
  return {
    data: view.address,
    type: DTYPE_CODES[t.dtype],
    rowStride: view.strides[batchRank]!,
    colStride: view.strides[batchRank + 1]!,
    batchStride: stride,
  };
}

/**
 * matmul on f32, f16 and bf16 (and f32 by f16/bf16, the second read as stored). f16/bf16 pairs
 * with a unit stride on either axis run on the tensor cores; up to 8 rows, the GEMV kernel; the
 * rest the SIMT kernel (native/kernels/gemm.cu chooses). Transposed views are read in place.
 */
export function registerMatmul(addon: NativeAddon): void {
  registerCuda(addon, 'matmul', ({ args, temps }) => {
    const [a, b] = args.inputs;
    expectDTypes('matmul', args.inputs, FLOATS);
    const out = args.outputs[0]!;
    const rank = a!.rank;
    if (rank < 2 || b!.rank !== rank) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `matmul: the cuda kernel expects batched matrices of one rank, got ${a!.rank} and ${b!.rank}`,
      );
    }
    addon.matmul({
      a: matrixOperand(temps, a!),
      b: matrixOperand(temps, b!),
      c: viewOf(out).address,
      cType: DTYPE_CODES[out.dtype],
      batch: a!.shape.slice(0, rank - 2).reduce((x, y) => x * y, 1),
      m: a!.shape[rank - 2],
      n: b!.shape[rank - 1],
      k: a!.shape[rank - 1],
    });
  });
}
