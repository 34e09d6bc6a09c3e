import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { binaryKernel } from '../utils/elementwise';

// The div op accepts float tensors only, so this is always f32 division.
registerKernel({ op: 'div', backend: EXAMPLE, fn: binaryKernel((a, b) => a / b) });
