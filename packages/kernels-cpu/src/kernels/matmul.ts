import { type DType, getKernel, type KernelArgs, registerKernel, type Tensor } from '@slimlm/core';
import { CPU } from '../backend';
import type { NativeAddon } from '../native';

const NATIVE_DTYPES: Partial<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2 };

/**
 * The batch axes of a [...batch, rows, cols] view as one (count, stride) pair when they collapse
 * (contiguous, or all broadcast), else undefined.
 */
function collapseBatch(t: Tensor): { count: number; stride: number } | undefined {
  const batchRank = t.rank - 2;
  let count = 1;
  let stride = 0;
  for (let axis = batchRank - 1; axis >= 0; axis--) {
    const size = t.shape[axis]!;
    if (size === 1) continue;
    const axisStride = t.strides[axis]!;
    if (count === 1) stride = axisStride;
    else if (axisStride !== stride * count) return undefined;
    count *= size;
  }
  return { count, stride };
}

/** Registers the native matmul: f32, f16 and bf16 on any strides; other dtypes use the reference kernel. */
export function registerMatmul(addon: NativeAddon): void {
  const reference = getKernel('matmul', 'reference')!;
  registerKernel({
    op: 'matmul',
    backend: CPU,
    fn: (args: KernelArgs) => {
      const [a, b] = args.inputs as [Tensor, Tensor];
      const out = args.outputs[0]!;
      const code = NATIVE_DTYPES[a.dtype];
      if (code === undefined) {
        reference(args);
        return;
      }
      const [m, k] = a.shape.slice(-2) as [number, number];
      const n = b.shape[b.rank - 1]!;
      const batchA = collapseBatch(a);
      const batchB = collapseBatch(b);
      const batches = out.size / Math.max(1, m * n);
      const call = (
        count: number,
        aOffset: number,
        aBatch: number,
        bOffset: number,
        bBatch: number,
        cOffset: number,
      ) =>
        addon.gemm(
          a.storage.handle as ArrayBufferView,
          b.storage.handle as ArrayBufferView,
          out.storage.handle as ArrayBufferView,
          Float64Array.of(
            count,
            m,
            n,
            k,
            code,
            aOffset,
            a.strides[a.rank - 2]!,
            a.strides[a.rank - 1]!,
            aBatch,
            code,
            bOffset,
            b.strides[b.rank - 2]!,
            b.strides[b.rank - 1]!,
            bBatch,
            code,
            cOffset,
            m * n,
          ),
        );
      if (batchA && batchB) {
        call(batches, a.offset, batchA.stride, b.offset, batchB.stride, out.offset);
        return;
      }
      // Batch axes that do not collapse: one call per batch entry.
      const batchShape = out.shape.slice(0, -2);
      const index = new Array<number>(batchShape.length).fill(0);
      for (let batch = 0; batch < batches; batch++) {
        const offsetIn = (t: Tensor) =>
          index.reduce((sum, i, axis) => sum + i * t.strides[axis]!, t.offset);
        call(1, offsetIn(a), 0, offsetIn(b), 0, out.offset + batch * m * n);
        for (let axis = index.length - 1; axis >= 0; axis--) {
          index[axis]!++;
          if (index[axis]! < batchShape[axis]!) break;
          index[axis] = 0;
        }
      }
    },
  });
}
