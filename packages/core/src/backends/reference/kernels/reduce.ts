import { registerKernel } from '../../../kernels';
import type { ReduceAttrs } from '../../../ops/reduce';
import { contiguousStrides } from '../../../shape';
import type { Tensor } from '../../../tensor';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

/**
 * Groups `x`'s elements by output position for a reduction over `axes`: calls `visit(out, value)`
 * for every element in row-major order. Shared by every reduction kernel.
 */
export function forEachReduced(x: Tensor, axes: readonly number[], visit: (out: number, value: number) => void): void {
  const values = readValues(x);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const keptStrides = contiguousStrides(kept);
  const index = new Array<number>(x.rank).fill(0);
  for (let i = 0; i < values.length; i++) {
    let out = 0;
    for (let a = 0; a < x.rank; a++) if (!axes.includes(a)) out += index[a]! * keptStrides[a]!;
    visit(out, values[i]!);
    for (let a = x.rank - 1; a >= 0; a--) {
      index[a]!++;
      if (index[a]! < x.shape[a]!) break;
      index[a] = 0;
    }
  }
}

registerKernel<ReduceAttrs>({
  op: 'sum',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const totals = new Float64Array(out!.size);
    forEachReduced(x!, attrs.axes, (o, v) => {
      totals[o]! += v;
    });
    writeValues(out!, totals);
  },
});
