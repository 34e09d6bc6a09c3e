import { getKernel, registerKernel } from '@slimlm/core';
import { CPU } from './backend';

/**
 * Ops with no native kernel yet: the "cpu" backend runs the reference backend's kernel for them,
 * on the same storage. Listed here (and in the README) so that nothing falls back silently.
 */
export const FALLBACK_OPS: readonly string[] = [
  'copy',
  'fill',
  'add',
  'sub',
  'mul',
  'div',
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'abs',
  'sin',
  'cos',
  'erf',
  'sigmoid',
  'pow',
  'maximum',
  'minimum',
  'clamp',
  'square',
  'relu',
  'silu',
  'gelu',
  'equal',
  'notEqual',
  'greater',
  'greaterEqual',
  'less',
  'lessEqual',
  'logicalNot',
  'where',
  'maskedFill',
  'cast',
  'sum',
  'mean',
  'max',
  'min',
  'argmax',
  'logsumexp',
  'softmax',
  'logSoftmax',
  'rmsNorm',
  'layerNorm',
  'concat',
  'gather',
  'scatterAdd',
  'applyRotary',
  'scaledDotProductAttention',
  'crossEntropy',
];

/** Registers the reference kernel of every op in FALLBACK_OPS under the "cpu" backend. */
export function registerFallbacks(): void {
  for (const op of FALLBACK_OPS) {
    const kernel = getKernel(op, 'reference');
    if (kernel === undefined)
      throw new Error(`@slimlm/kernels-cpu: core has no reference kernel for '${op}'`);
    registerKernel({ op, backend: CPU, fn: kernel });
  }
}
