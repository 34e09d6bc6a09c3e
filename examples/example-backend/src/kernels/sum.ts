import { type ReduceAttrs, registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { dataOf } from '../utils/data';
import { walk } from '../utils/walk';

// sum over attrs.axes (already normalised and sorted by the op; all axes for a full sum). The
// output is walked like the input with stride 0 on the reduced axes, so every input element
// lands on its output position. Totals accumulate in f64 and are rounded (or wrapped) once.
registerKernel<ReduceAttrs>({
  op: 'sum',
  backend: EXAMPLE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const source = dataOf(x!);
    const totals = new Float64Array(out!.size);
    const inputStrides: number[] = [];
    const outputStrides: number[] = [];
    let inputStride = 1;
    let outputStride = 1;
    for (let axis = x!.rank - 1; axis >= 0; axis--) {
      const reduced = attrs.axes.includes(axis);
      inputStrides[axis] = inputStride;
      outputStrides[axis] = reduced ? 0 : outputStride;
      inputStride *= x!.shape[axis]!;
      if (!reduced) outputStride *= x!.shape[axis]!;
    }
    walk(
      x!.shape,
      { strides: inputStrides, offset: x!.offset },
      { strides: outputStrides, offset: 0 },
      (from, to) => {
        totals[to]! += source[from]!;
      },
    );
    dataOf(out!).set(totals, out!.offset);
  },
});
