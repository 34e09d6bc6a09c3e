import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { unaryKernel } from '../utils/elementwise';

registerKernel({ op: 'exp', backend: EXAMPLE, fn: unaryKernel(Math.exp) });
