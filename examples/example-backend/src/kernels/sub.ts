import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { binaryKernel } from '../utils/elementwise';

registerKernel({ op: 'sub', backend: EXAMPLE, fn: binaryKernel((a, b) => a - b) });
