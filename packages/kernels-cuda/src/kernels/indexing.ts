import { bytesPerElement, type IndexAttrs, type Tensor } from '@slimlm/core';
import type { NativeAddon } from '../native';
import { DTYPE_CODES, expectDTypes, FLOATS, registerCuda, runCopy, viewOf } from './launch';

/** x [..., axisSize, ...] as [outer, axisSize, inner] around `axis`. */
function around(t: Tensor, axis: number): { outer: number; axisSize: number; inner: number } {
  const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  return {
    outer: product(t.shape.slice(0, axis)),
    axisSize: t.shape[axis]!,
    inner: product(t.shape.slice(axis + 1)),
  };
}

/** gather (any dtype) and scatterAdd (f32, f16, bf16; atomics, so sums of repeated indices
 * are added in no fixed order). Indices were range-checked by the op. */
export function registerIndexing(addon: NativeAddon): void {
  registerCuda<IndexAttrs>(addon, 'gather', ({ args, temps }) => {
    const [x, indices] = args.inputs;
    const source = temps.dense(viewOf(x!));
    addon.gather({
      x: source.address,
      indices: temps.dense(viewOf(indices!)).address,
      out: viewOf(args.outputs[0]!).address,
      ...around(x!, args.attrs.axis),
      count: indices!.size,
      elementBytes: bytesPerElement(x!.dtype),
    });
  });

  registerCuda<IndexAttrs>(addon, 'scatterAdd', ({ args, temps }) => {
    const [target, indices, updates] = args.inputs;
    expectDTypes('scatterAdd', [target!], FLOATS);
    const out = viewOf(args.outputs[0]!);
    runCopy(addon, out, viewOf(target!));
    addon.scatterAdd({
      out: out.address,
      indices: temps.dense(viewOf(indices!)).address,
      updates: temps.dense(viewOf(updates!)).address,
      type: DTYPE_CODES[target!.dtype],
      ...around(target!, args.attrs.axis),
      count: indices!.size,
    });
  });
}
