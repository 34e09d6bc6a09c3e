import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { dataOf } from '../utils/data';
import { walk } from '../utils/walk';

// copy: same shape and dtype, any strides on BOTH sides. It is the one kernel core calls with
// strided tensors: to make a view contiguous before another kernel runs (input strided, output
// fresh), and for `assign` into a slice (output strided). Raw elements move unchanged.
registerKernel({
  op: 'copy',
  backend: EXAMPLE,
  fn: ({ inputs: [x], outputs: [out] }) => {
    const source = dataOf(x!);
    const target = dataOf(out!);
    walk(x!.shape, x!, out!, (from, to) => {
      target[to] = source[from]!;
    });
  },
});
