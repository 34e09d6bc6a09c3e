import { registerKernel } from '../../../kernels';
import type { IndexAttrs } from '../../../ops/indexing';
import { sizeOf } from '../../../shape';
import type { Tensor } from '../../../tensor';
import { REFERENCE } from '../backend';
import { positions, readValues, storageOf, writeValues } from '../strided';

/** Sizes of the axes before `axis` and after it, flattened: row-major data is [outer, dim, inner]. */
function around(shape: readonly number[], axis: number): { outer: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), inner: sizeOf(shape.slice(axis + 1)) };
}

// concat copies raw elements (no f64 round trip), so halves and NaN payloads survive exactly.
registerKernel<IndexAttrs>({
  op: 'concat',
  backend: REFERENCE,
  fn: ({ inputs, outputs: [out], attrs }) => {
    const { outer, inner } = around(out!.shape, attrs.axis);
    const total = out!.shape[attrs.axis]!;
    const to = storageOf(out!);
    let start = 0;
    for (const t of inputs) {
      const dim = t.shape[attrs.axis]!;
      const from = storageOf(t);
      const at = positions(t);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < dim * inner; i++) {
          to[(o * total + start) * inner + i] = from[at[o * dim * inner + i]!]!;
        }
      }
      start += dim;
    }
  },
});

/** Calls `visit(from, to)` pairing each element of x's `axis` slab `indices[k]` with slot k. */
function forEachGathered(
  x: Tensor,
  indices: Tensor,
  axis: number,
  visit: (source: number, gathered: number) => void,
): void {
  const { outer, inner } = around(x.shape, axis);
  const dim = x.shape[axis]!;
  const picks = readValues(indices);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < picks.length; k++) {
      for (let j = 0; j < inner; j++) {
        visit((o * dim + picks[k]!) * inner + j, (o * picks.length + k) * inner + j);
      }
    }
  }
}

registerKernel<IndexAttrs>({
  op: 'gather',
  backend: REFERENCE,
  fn: ({ inputs: [x, indices], outputs: [out], attrs }) => {
    const from = storageOf(x!);
    const at = positions(x!);
    const to = storageOf(out!);
    forEachGathered(x!, indices!, attrs.axis, (source, gathered) => {
      to[gathered] = from[at[source]!]!;
    });
  },
});

registerKernel<IndexAttrs>({
  op: 'scatterAdd',
  backend: REFERENCE,
  fn: ({ inputs: [target, indices, updates], outputs: [out], attrs }) => {
    const result = readValues(target!);
    const added = readValues(updates!);
    forEachGathered(target!, indices!, attrs.axis, (slot, update) => {
      result[slot]! += added[update]!;
    });
    writeValues(out!, result);
  },
});
