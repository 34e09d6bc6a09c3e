import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { binaryKernel } from '../utils/elementwise';

const floatProduct = binaryKernel((a, b) => a * b);
// Two i32 values can multiply past 2^53, where a float product loses the low bits that the
// wrapped result keeps; Math.imul computes them exactly.
const wrappedProduct = binaryKernel(Math.imul);

registerKernel({
  op: 'mul',
  backend: EXAMPLE,
  fn: (args) => (args.outputs[0]!.dtype === 'f32' ? floatProduct(args) : wrappedProduct(args)),
});
