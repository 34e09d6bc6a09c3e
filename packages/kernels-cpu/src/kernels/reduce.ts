import type { ReduceAttrs } from '@slimlm/core';
import { asF32, intoF32, isNativeFloat, MAX_RANK, type OpsAddon, operandOf } from './operands';
import { registerNative } from './register';

/** Native reduction codes of native/ops/ops.h (ReduceOp). */
const REDUCE_OPS = { sum: 0, mean: 1, max: 2, min: 3, argmax: 4, logsumexp: 5 } as const;

/**
 * Reductions over any axes of f32, f16 and bf16 tensors (halves are widened exactly first and the
 * result rounded once); integer and f64 tensors use the reference kernel.
 */
export function registerReduce(addon: OpsAddon): void {
  for (const [op, code] of Object.entries(REDUCE_OPS)) {
    registerNative<ReduceAttrs>(op, (args, reference) => {
      const [x] = args.inputs;
      const [out] = args.outputs;
      if (!isNativeFloat(x!.dtype) || x!.rank > MAX_RANK) return reference(args);
      const input = asF32(addon, x!);
      const run = (target: ReturnType<typeof operandOf>) =>
        addon.reduce(
          input.data,
          target.data,
          Float64Array.from([
            code,
            input.offset,
            target.offset,
            x!.rank,
            ...x!.shape,
            ...input.strides,
            ...x!.shape.map((_, axis) => (args.attrs.axes.includes(axis) ? 1 : 0)),
          ]),
        );
      // argmax writes i32 indices straight into its output.
      if (op === 'argmax') run(operandOf(out!));
      else intoF32(addon, out!, run);
    });
  }
}
