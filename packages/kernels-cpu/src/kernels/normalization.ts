import type { NormAttrs, SoftmaxAttrs } from '@slimlm/core';
import { asF32, denseF32, intoF32, isNativeFloat, MAX_RANK, type OpsAddon } from './operands';
import { registerNative } from './register';

/**
 * softmax and logSoftmax along any axis, rmsNorm and layerNorm over the last: f32, and f16/bf16
 * widened exactly and rounded once at the end; f64 uses the reference kernel.
 */
export function registerNormalization(addon: OpsAddon): void {
  for (const op of ['softmax', 'logSoftmax']) {
    registerNative<SoftmaxAttrs>(op, (args, reference) => {
      const [x] = args.inputs;
      const [out] = args.outputs;
      if (!isNativeFloat(x!.dtype) || x!.rank > MAX_RANK) return reference(args);
      const input = asF32(addon, x!);
      intoF32(addon, out!, (target) =>
        addon.softmax(
          input.data,
          target.data,
          Float64Array.from([
            op === 'logSoftmax' ? 1 : 0,
            args.attrs.axis,
            input.offset,
            target.offset,
            x!.rank,
            ...x!.shape,
            ...input.strides,
            ...target.strides,
          ]),
        ),
      );
    });
  }

  for (const op of ['rmsNorm', 'layerNorm']) {
    registerNative<NormAttrs>(op, (args, reference) => {
      const [x] = args.inputs;
      const [out] = args.outputs;
      if (!isNativeFloat(x!.dtype) || x!.rank > MAX_RANK) return reference(args);
      const { hasWeight, hasBias, eps } = args.attrs;
      const input = asF32(addon, x!);
      const weight = hasWeight ? denseF32(addon, args.inputs[1]!) : null;
      const bias = hasBias ? denseF32(addon, args.inputs[hasWeight ? 2 : 1]!) : null;
      intoF32(addon, out!, (target) =>
        addon.norm(
          input.data,
          weight?.data ?? null,
          bias?.data ?? null,
          target.data,
          Float64Array.from([
            op === 'layerNorm' ? 1 : 0,
            eps,
            input.offset,
            weight?.offset ?? 0,
            bias?.offset ?? 0,
            target.offset,
            x!.rank,
            ...x!.shape,
            ...input.strides,
          ]),
        ),
      );
    });
  }
}
