import { registerKernel } from '../../../kernels';
import { REFERENCE } from '../backend';
import { positions, storageOf, writeValues } from '../strided';

// copy: same shape and dtype, any strides on both sides; raw elements move, so NaN payloads and
// half-precision bits are kept exactly.
registerKernel({
  op: 'copy',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out] }) => {
    const from = storageOf(x!);
    const to = storageOf(out!);
    const source = positions(x!);
    const target = positions(out!);
    for (let i = 0; i < source.length; i++) to[target[i]!] = from[source[i]!]!;
  },
});

registerKernel<{ value: number }>({
  op: 'fill',
  backend: REFERENCE,
  fn: ({ outputs: [out], attrs }) => {
    writeValues(out!, new Float64Array(out!.size).fill(attrs.value));
  },
});
