import { bytesPerElement, type IndexAttrs, sizeOf } from '@slimlm/core';
import {
  denseF32,
  int32Values,
  intoF32,
  isNativeFloat,
  MAX_RANK,
  MapOp,
  type OpsAddon,
  operandOf,
  runCopy,
  runMap,
  storageOf,
} from './operands';
import { registerNative } from './register';

/**
 * concat and gather move raw elements of every dtype; scatterAdd adds in f32 (halves widened
 * exactly, the result rounded once), other dtypes in the reference kernel.
 */
export function registerIndexing(addon: OpsAddon): void {
  // Each input is copied into its slab of the output, a strided view of it.
  registerNative<IndexAttrs>('concat', (args, reference) => {
    const [out] = args.outputs;
    if (out!.rank > MAX_RANK) return reference(args);
    const { axis } = args.attrs;
    let start = 0;
    for (const t of args.inputs) {
      const slab = {
        data: storageOf(out!),
        offset: out!.offset + start * out!.strides[axis]!,
        strides: out!.strides,
      };
      if (t.size > 0) runCopy(addon, t.dtype, t.shape, operandOf(t), slab);
      start += t.shape[axis]!;
    }
  });

  // Indices were range-checked by the op.
  registerNative<IndexAttrs>('gather', (args, reference) => {
    const [x, indices] = args.inputs;
    const [out] = args.outputs;
    if (x!.rank > MAX_RANK) return reference(args);
    addon.gather(
      storageOf(x!),
      int32Values(addon, indices!),
      storageOf(out!),
      Float64Array.from([
        bytesPerElement(x!.dtype),
        args.attrs.axis,
        x!.offset,
        out!.offset,
        indices!.size,
        x!.rank,
        ...x!.shape,
        ...x!.strides,
      ]),
    );
  });

  registerNative<IndexAttrs>('scatterAdd', (args, reference) => {
    const [target, indices, updates] = args.inputs;
    const [out] = args.outputs;
    if (!isNativeFloat(target!.dtype) || target!.rank > MAX_RANK || updates!.rank > MAX_RANK)
      return reference(args);
    const { axis } = args.attrs;
    const added = denseF32(addon, updates!);
    intoF32(addon, out!, (result) => {
      // The result starts as the target (widened for halves), then the updates add in.
      if (target!.dtype === 'f32') runCopy(addon, 'f32', target!.shape, operandOf(target!), result);
      else runMap(addon, MapOp.identity, target!.shape, result, [operandOf(target!)]);
      addon.scatterAdd(
        result.data,
        int32Values(addon, indices!),
        added.data,
        Float64Array.of(
          sizeOf(target!.shape.slice(0, axis)),
          target!.shape[axis]!,
          sizeOf(target!.shape.slice(axis + 1)),
          indices!.size,
          result.offset,
          added.offset,
        ),
      );
    });
  });
}
