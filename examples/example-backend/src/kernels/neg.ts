import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { unaryKernel } from '../utils/elementwise';

registerKernel({ op: 'neg', backend: EXAMPLE, fn: unaryKernel((x) => -x) });
