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
export function forEachReduced(
  x: Tensor,
  axes: readonly number[],
  visit: (out: number, value: number) => void,
): void {
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

/** Per-output accumulators, folded over each group and written to the output. */
function registerFold(
  op: string,
  initial: number,
  fold: (accumulator: number, value: number) => number,
): void {
  registerKernel<ReduceAttrs>({
    op,
    backend: REFERENCE,
    fn: ({ inputs: [x], outputs: [out], attrs }) => {
      const accumulators = new Float64Array(out!.size).fill(initial);
      forEachReduced(x!, attrs.axes, (o, v) => {
        accumulators[o] = fold(accumulators[o]!, v);
      });
      writeValues(out!, accumulators);
    },
  });
}

// NaN wins both comparisons, so a NaN anywhere in a group makes its max and min NaN.
const larger = (a: number, b: number) => (Number.isNaN(b) || b > a ? b : a);
const smaller = (a: number, b: number) => (Number.isNaN(b) || b < a ? b : a);

registerFold('sum', 0, (a, v) => a + v);
registerFold('max', Number.NEGATIVE_INFINITY, larger);
registerFold('min', Number.POSITIVE_INFINITY, smaller);

registerKernel<ReduceAttrs>({
  op: 'mean',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const totals = new Float64Array(out!.size);
    forEachReduced(x!, attrs.axes, (o, v) => {
      totals[o]! += v;
    });
    const count = attrs.axes.reduce((n, a) => n * x!.shape[a]!, 1);
    writeValues(
      out!,
      totals.map((t) => t / count),
    );
  },
});

// Shifting by the group's max keeps exp() from overflowing; an infinite or NaN max is the answer.
registerKernel<ReduceAttrs>({
  op: 'logsumexp',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const maxima = new Float64Array(out!.size).fill(Number.NEGATIVE_INFINITY);
    forEachReduced(x!, attrs.axes, (o, v) => {
      maxima[o] = larger(maxima[o]!, v);
    });
    const totals = new Float64Array(out!.size);
    forEachReduced(x!, attrs.axes, (o, v) => {
      totals[o]! += Math.exp(v - maxima[o]!);
    });
    writeValues(
      out!,
      maxima.map((m, o) => (Number.isFinite(m) ? m + Math.log(totals[o]!) : m)),
    );
  },
});

// forEachReduced visits each group in row-major order, so counting visits per output gives the
// position within the group: the index along the axis, or the flat index when reducing all axes.
registerKernel<ReduceAttrs>({
  op: 'argmax',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const best = new Float64Array(out!.size).fill(Number.NEGATIVE_INFINITY);
    const bestIndex = new Float64Array(out!.size);
    const seen = new Float64Array(out!.size);
    forEachReduced(x!, attrs.axes, (o, v) => {
      const position = seen[o]!++;
      if (Number.isNaN(best[o]!)) return;
      if (Number.isNaN(v) || v > best[o]! || position === 0) {
        best[o] = v;
        bestIndex[o] = position;
      }
    });
    writeValues(out!, bestIndex);
  },
});
