import { registerKernel, type SoftmaxAttrs } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { dataOf } from '../utils/data';

// softmax along attrs.axis of a contiguous tensor seen as [outer, axis, inner]: each of the
// outer * inner lines is shifted by its max (exp never overflows), exponentiated and normalised,
// in f64. The op accepts float tensors only, so input and output are f32 here.
registerKernel<SoftmaxAttrs>({
  op: 'softmax',
  backend: EXAMPLE,
  fn: ({ inputs: [x], outputs: [out], attrs }) => {
    const source = dataOf(x!);
    const target = dataOf(out!);
    const length = x!.shape[attrs.axis]!;
    const outer = x!.shape.slice(0, attrs.axis).reduce((product, d) => product * d, 1);
    const inner = x!.shape.slice(attrs.axis + 1).reduce((product, d) => product * d, 1);
    const line = new Float64Array(length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const start = o * length * inner + i;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < length; j++)
          max = Math.max(max, source[x!.offset + start + j * inner]!);
        let total = 0;
        for (let j = 0; j < length; j++) {
          line[j] = Math.exp(source[x!.offset + start + j * inner]! - max);
          total += line[j]!;
        }
        for (let j = 0; j < length; j++) target[out!.offset + start + j * inner] = line[j]! / total;
      }
    }
  },
});
