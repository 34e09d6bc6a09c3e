import type { NormAttrs, SoftmaxAttrs } from '@slimlm/core';
import type { NativeAddon } from '../native';
import { DTYPE_CODES, expectDTypes, FLOATS, registerCuda, viewOf } from './launch';

/**
 * softmax and logSoftmax along any axis, rmsNorm and layerNorm over the last, on f32, f16 and
 * bf16 (statistics in f32/f64, one rounding on store). Inputs are made contiguous first.
 */
export function registerNormalization(addon: NativeAddon): void {
  for (const op of ['softmax', 'logSoftmax']) {
    registerCuda<SoftmaxAttrs>(addon, op, ({ args, temps }) => {
      const x = args.inputs[0]!;
      expectDTypes(op, [x], FLOATS);
      const { axis } = args.attrs;
      const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
      addon.softmax({
        x: temps.dense(viewOf(x)).address,
        out: viewOf(args.outputs[0]!).address,
        type: DTYPE_CODES[x.dtype],
        outer: product(x.shape.slice(0, axis)),
        length: x.shape[axis]!,
        inner: product(x.shape.slice(axis + 1)),
        log: op === 'logSoftmax',
      });
    });
  }

  for (const op of ['rmsNorm', 'layerNorm']) {
    registerCuda<NormAttrs>(addon, op, ({ args, temps }) => {
      const [x] = args.inputs;
      expectDTypes(op, args.inputs, FLOATS);
      const { hasWeight, hasBias, eps } = args.attrs;
      const weight = hasWeight ? args.inputs[1]! : null;
      const bias = hasBias ? args.inputs[hasWeight ? 2 : 1]! : null;
      const features = x!.shape[x!.rank - 1]!;
      addon.norm({
        x: temps.dense(viewOf(x!)).address,
        weight: weight ? temps.dense(viewOf(weight)).address : null,
        bias: bias ? temps.dense(viewOf(bias)).address : null,
        out: viewOf(args.outputs[0]!).address,
        type: DTYPE_CODES[x!.dtype],
        rows: features === 0 ? 0 : x!.size / features,
        features,
        eps,
        layer: op === 'layerNorm',
      });
    });
  }
}
