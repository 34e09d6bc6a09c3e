import type { ReduceAttrs } from '@slimlm/core';
import type { NativeAddon } from '../native';
import { DTYPE_CODES, expectDTypes, FLOATS, registerCuda, viewOf } from './launch';
import { collapse } from './layout';

/** Reduction codes of native/kernels/kernels.h (ReduceOp). */
export const REDUCE_OPS = { sum: 0, mean: 1, max: 2, min: 3, argmax: 4, logsumexp: 5 } as const;

/**
 * Reductions over any axes of f32, f16 and bf16 tensors of any strides: the kept axes and the
 * reduced axes each become one (collapsed) walk over x; the output is contiguous.
 */
export function registerReduce(addon: NativeAddon): void {
  for (const [op, code] of Object.entries(REDUCE_OPS)) {
    registerCuda<ReduceAttrs>(addon, op, ({ args }) => {
      const x = args.inputs[0]!;
      expectDTypes(op, [x], FLOATS);
      const view = viewOf(x);
      const out = viewOf(args.outputs[0]!);
      const reduced = (axis: number) => args.attrs.axes.includes(axis);
      const axes = x.shape.map((_, axis) => axis);
      const walk = (pick: (axis: number) => boolean) => {
        const kept = axes.filter(pick);
        return collapse(
          op,
          kept.map((a) => x.shape[a]!),
          [kept.map((a) => view.strides[a]!)],
        );
      };
      addon.reduce({
        op: code,
        x: view.address,
        xType: DTYPE_CODES[x.dtype],
        out: out.address,
        outType: DTYPE_CODES[out.dtype],
        outer: walk((axis) => !reduced(axis)),
        inner: walk(reduced),
      });
    });
  }
}
