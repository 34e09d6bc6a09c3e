import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { binaryKernel } from '../utils/elementwise';

// This backend's kernel for the op defined in ../ops/squaredDifference.ts.
registerKernel({
  op: 'squaredDifference',
  backend: EXAMPLE,
  fn: binaryKernel((a, b) => (a - b) * (a - b)),
});
