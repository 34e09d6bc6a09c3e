import { encodeValues } from '@slimlm/core';
import { MAX_RANK, type OpsAddon, operandOf, runCopy, storageOf } from './operands';
import { registerNative } from './register';

/** copy and fill: raw elements of every dtype, bit for bit. */
export function registerMemory(addon: OpsAddon): void {
  registerNative('copy', (args, reference) => {
    const [x] = args.inputs;
    const [out] = args.outputs;
    if (x!.rank > MAX_RANK) return reference(args);
    runCopy(addon, x!.dtype, x!.shape, operandOf(x!), operandOf(out!));
  });

  // The value is encoded once as the reference's writeValues would store it, then repeated.
  registerNative<{ value: number }>('fill', (args, reference) => {
    const [out] = args.outputs;
    if (!out!.isContiguous) return reference(args);
    const value = encodeValues([args.attrs.value], out!.dtype);
    addon.fill(
      storageOf(out!),
      value,
      Float64Array.of(value.BYTES_PER_ELEMENT, out!.offset, out!.size),
    );
  });
}
