import { getKernel, registerKernel, SlimlmError, type Tensor } from '@slimlm/core';
import { CPU } from '../backend';
import { storageOf } from './operands';

/** The GPTQ family's addon functions (native/gptq/bindings.cc). */
export interface GptqAddon {
  /** dims = [rows, cols, paramRows, maxq, then the nine arrays' offsets in elements]. */
  gptqQuantizeBlock(
    w: ArrayBufferView,
    hinv: ArrayBufferView,
    scales: ArrayBufferView,
    zeros: ArrayBufferView,
    params: ArrayBufferView,
    q: ArrayBufferView,
    err: ArrayBufferView,
    losses: ArrayBufferView,
    codes: ArrayBufferView,
    dims: Float64Array,
  ): void;
}

/**
 * 'gptqQuantizeBlock' (op and reference kernel in @slimlm/gptq, which validates the operands:
 * f32 w [N, B], hinv [B, B], scales/zeros [P, N], i32 params [B]; outputs q, err, losses f32 and
 * codes u8 [N, B]), natively: rows split across threads, each row's update vectorized, f32 steps
 * rounded like the reference kernel so both give the same bits. Not in registerNative's mold:
 * the op's reference kernel is registered by @slimlm/gptq, which may load after this package;
 * operands that are not contiguous go to it, looked up at call time.
 */
export function registerGptq(addon: GptqAddon): void {
  registerKernel<{ maxq: number }>({
    op: 'gptqQuantizeBlock',
    backend: CPU,
    fn: (args) => {
      const tensors = [...args.inputs, ...args.outputs] as Tensor[];
      if (!tensors.every((t) => t.isContiguous)) {
        const reference = getKernel('gptqQuantizeBlock', 'reference');
        if (reference === undefined)
          throw new SlimlmError(
            'NO_KERNEL',
            "gptqQuantizeBlock: strided operands need the reference kernel; import '@slimlm/gptq'",
          );
        return reference(args);
      }
      const [w, , scales] = tensors as [Tensor, Tensor, Tensor];
      const [rows, cols] = w.shape as [number, number];
      addon.gptqQuantizeBlock(
        storageOf(tensors[0]!),
        storageOf(tensors[1]!),
        storageOf(tensors[2]!),
        storageOf(tensors[3]!),
        storageOf(tensors[4]!),
        storageOf(tensors[5]!),
        storageOf(tensors[6]!),
        storageOf(tensors[7]!),
        storageOf(tensors[8]!),
        Float64Array.from([
          rows,
          cols,
          scales.shape[0]!,
          args.attrs.maxq,
          ...tensors.map((t) => t.offset),
        ]),
      );
    },
  });
}
