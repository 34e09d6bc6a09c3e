import { bytesPerElement, type DType, encodeValues, type IndexAttrs } from '@slimlm/core';
import type { NativeAddon } from '../native';
import { registerCuda, runCopy, type View, viewOf } from './launch';

/** The bit pattern `value` is stored as in `dtype` (as the reference backend encodes it). */
export function bitsOf(value: number, dtype: DType): number {
  const encoded = encodeValues([value], dtype);
  const bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  let bits = 0;
  for (let i = bytes.length - 1; i >= 0; i--) bits = bits * 256 + bytes[i]!;
  return bits;
}

/** copy, fill and concat: raw elements of every dtype, bit for bit. */
export function registerMemory(addon: NativeAddon): void {
  registerCuda(addon, 'copy', ({ args: { inputs, outputs } }) =>
    runCopy(addon, viewOf(outputs[0]!), viewOf(inputs[0]!)),
  );

  // Outputs of fill are fresh and contiguous, except when core fills a view in place: then a
  // one-element source broadcast over the view (stride 0) is copied in.
  registerCuda<{ value: number }>(addon, 'fill', ({ args, temps }) => {
    const out = args.outputs[0]!;
    const bits = bitsOf(args.attrs.value, out.dtype);
    const elementBytes = bytesPerElement(out.dtype);
    if (out.isContiguous) {
      addon.fill({ dst: viewOf(out).address, count: out.size, elementBytes, bits });
      return;
    }
    const one = temps.allocate(out.dtype, 1);
    addon.fill({ dst: one, count: 1, elementBytes, bits });
    const source: View = {
      address: one,
      dtype: out.dtype,
      shape: out.shape,
      strides: out.shape.map(() => 0),
    };
    runCopy(addon, viewOf(out), source);
  });

  // Each input is copied into its slice of the output along the axis.
  registerCuda<IndexAttrs>(addon, 'concat', ({ args }) => {
    const out = viewOf(args.outputs[0]!);
    const { axis } = args.attrs;
    const step = out.strides[axis]! * bytesPerElement(out.dtype);
    let position = 0;
    for (const t of args.inputs) {
      const slice: View = { ...out, address: out.address + position * step, shape: t.shape };
      runCopy(addon, slice, viewOf(t));
      position += t.shape[axis]!;
    }
  });
}
