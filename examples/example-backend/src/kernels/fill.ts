import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { dataOf } from '../utils/data';

// fill: behind full, zeros, ones and the seed gradient of backward(). The typed array rounds or
// truncates `value` to the output's dtype.
registerKernel<{ value: number }>({
  op: 'fill',
  backend: EXAMPLE,
  fn: ({ outputs: [out], attrs }) => {
    dataOf(out!).fill(attrs.value, out!.offset, out!.offset + out!.size);
  },
});
