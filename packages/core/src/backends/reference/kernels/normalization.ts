import { registerKernel } from '../../../kernels';
import type { NormAttrs, SoftmaxAttrs } from '../../../ops/normalization';
import { sizeOf } from '../../../shape';
import type { Tensor } from '../../../tensor';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

/**
 * Calls `visit(at)` for every 1-D lane of a row-major `shape` along `axis`, where `at(i)` is the
 * flat position of the lane's i-th element.
 */
function forEachLane(
  shape: readonly number[],
  axis: number,
  visit: (at: (i: number) => number, length: number) => void,
): void {
  const length = shape[axis]!;
  const inner = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * length * inner + j;
      visit((i) => base + i * inner, length);
    }
  }
}

/** Registers a kernel transforming each lane along `attrs.axis`, in f64. */
function registerLaneKernel(
  op: string,
  transform: (lane: Float64Array, out: Float64Array) => void,
): void {
  registerKernel<SoftmaxAttrs>({
    op,
    backend: REFERENCE,
    fn: ({ inputs: [x], outputs: [out], attrs }) => {
      const values = readValues(x!);
      const result = new Float64Array(values.length);
      forEachLane(x!.shape, attrs.axis, (at, length) => {
        const lane = new Float64Array(length);
        for (let i = 0; i < length; i++) lane[i] = values[at(i)]!;
        const transformed = new Float64Array(length);
        transform(lane, transformed);
        for (let i = 0; i < length; i++) result[at(i)] = transformed[i]!;
      });
      writeValues(out!, result);
    },
  });
}

/** The lane's max and sum(exp(v - max)): the max shift keeps exp() from overflowing. */
function shiftedExpSum(lane: Float64Array): { shift: number; total: number } {
  let shift = Number.NEGATIVE_INFINITY;
  for (const v of lane) if (v > shift || Number.isNaN(v)) shift = v;
  let total = 0;
  for (const v of lane) total += Math.exp(v - shift);
  return { shift, total };
}

registerLaneKernel('softmax', (lane, out) => {
  const { shift, total } = shiftedExpSum(lane);
  lane.forEach((v, i) => {
    out[i] = Math.exp(v - shift) / total;
  });
});

registerLaneKernel('logSoftmax', (lane, out) => {
  const { shift, total } = shiftedExpSum(lane);
  const logTotal = Math.log(total);
  lane.forEach((v, i) => {
    out[i] = v - shift - logTotal;
  });
});

/** Per-feature parameters of a norm kernel (1 where absent for weight, 0 for bias). */
function parameters(inputs: readonly Tensor[], attrs: NormAttrs, features: number) {
  const weight = attrs.hasWeight ? readValues(inputs[1]!) : new Float64Array(features).fill(1);
  const bias = attrs.hasBias
    ? readValues(inputs[attrs.hasWeight ? 2 : 1]!)
    : new Float64Array(features);
  return { weight, bias };
}

/** Registers a last-axis normalization: `center` and `scale` of each row define it. */
function registerNorm(
  op: string,
  statistics: (row: Float64Array, eps: number) => { center: number; scale: number },
): void {
  registerKernel<NormAttrs>({
    op,
    backend: REFERENCE,
    fn: ({ inputs, outputs: [out], attrs }) => {
      const x = inputs[0]!;
      const features = x.shape[x.rank - 1]!;
      const values = readValues(x);
      const { weight, bias } = parameters(inputs, attrs, features);
      const result = new Float64Array(values.length);
      for (let start = 0; start < values.length; start += features) {
        const row = values.subarray(start, start + features);
        const { center, scale } = statistics(row, attrs.eps);
        for (let i = 0; i < features; i++) {
          result[start + i] = (row[i]! - center) * scale * weight[i]! + bias[i]!;
        }
      }
      writeValues(out!, result);
    },
  });
}

registerNorm('rmsNorm', (row, eps) => {
  let squares = 0;
  for (const v of row) squares += v * v;
  return { center: 0, scale: 1 / Math.sqrt(squares / row.length + eps) };
});

registerNorm('layerNorm', (row, eps) => {
  let total = 0;
  for (const v of row) total += v;
  const center = total / row.length;
  let squares = 0;
  for (const v of row) squares += (v - center) ** 2;
  return { center, scale: 1 / Math.sqrt(squares / row.length + eps) };
});
