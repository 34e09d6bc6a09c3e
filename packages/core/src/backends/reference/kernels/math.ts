import { registerKernel } from '../../../kernels';
import type { GeluAttrs } from '../../../ops/activation';
import type { CastAttrs } from '../../../ops/cast';
import type { MaskedFillAttrs } from '../../../ops/compare';
import type { ClampAttrs } from '../../../ops/math';
import { erf, erfc } from '../../../utils/erf';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';
import { mapKernel, registerElementwise } from './elementwise';

// Elementwise math, activations, comparisons and casts, computed in f64 and rounded on store.

registerElementwise('exp', Math.exp);
registerElementwise('log', Math.log);
registerElementwise('sqrt', Math.sqrt);
registerElementwise('rsqrt', (x) => 1 / Math.sqrt(x));
registerElementwise('tanh', Math.tanh);
registerElementwise('sin', Math.sin);
registerElementwise('cos', Math.cos);
registerElementwise('erf', erf);
registerElementwise('abs', Math.abs);
registerElementwise('maximum', Math.max);
registerElementwise('minimum', Math.min);

/** 1 / (1 + e^-x), written so that e^|x| never overflows into a 0/0 or a lost digit. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

registerElementwise('sigmoid', sigmoid);

// C's pow, which native backends follow, differs from Math.pow in two cases: a base of 1 and a
// base of -1 with an infinite exponent give 1, not NaN.
registerElementwise('pow', (base, exponent) => {
  if (base === 1 || (base === -1 && !Number.isFinite(exponent) && !Number.isNaN(exponent)))
    return 1;
  return base ** exponent;
});

// For i32, an f64 square above 2^53 would lose the low bits that wrapping keeps; Math.imul wraps
// exactly.
registerKernel({
  op: 'square',
  backend: REFERENCE,
  fn: (args) => {
    const integer = args.outputs[0]!.dtype === 'i32';
    mapKernel(integer ? (x) => Math.imul(x, x) : (x) => x * x)(args);
  },
});

registerKernel<ClampAttrs>({
  op: 'clamp',
  backend: REFERENCE,
  fn: (args) => {
    const low = args.attrs.min ?? Number.NEGATIVE_INFINITY;
    const high = args.attrs.max ?? Number.POSITIVE_INFINITY;
    mapKernel((x) => Math.min(Math.max(x, low), high))(args);
  },
});

registerElementwise('relu', (x) => Math.max(x, 0));
// x / (1 + e^-x) rather than x * sigmoid(x): the form PyTorch uses, with the same values at +-Inf.
registerElementwise('silu', (x) => x / (1 + Math.exp(-x)));

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

registerKernel<GeluAttrs>({
  op: 'gelu',
  backend: REFERENCE,
  fn: (args) => {
    // erfc(-x/sqrt 2) = 1 + erf(x/sqrt 2) without the cancellation for very negative x.
    const exact = (x: number) => 0.5 * x * erfc(-x * Math.SQRT1_2);
    const tanhForm = (x: number) =>
      0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    mapKernel(args.attrs.approximate === 'tanh' ? tanhForm : exact)(args);
  },
});

const truth = (condition: boolean) => (condition ? 1 : 0);

registerElementwise('equal', (a, b) => truth(a === b));
registerElementwise('notEqual', (a, b) => truth(a !== b));
registerElementwise('greater', (a, b) => truth(a > b));
registerElementwise('greaterEqual', (a, b) => truth(a >= b));
registerElementwise('less', (a, b) => truth(a < b));
registerElementwise('lessEqual', (a, b) => truth(a <= b));
registerElementwise('logicalNot', (x) => truth(x === 0));
registerElementwise('where', (condition, a, b) => (condition !== 0 ? a : b));

registerKernel<MaskedFillAttrs>({
  op: 'maskedFill',
  backend: REFERENCE,
  fn: (args) => {
    const { value } = args.attrs;
    mapKernel((x, mask) => (mask !== 0 ? value : x))(args);
  },
});

// writeValues stores through typed arrays and the half encoders, which give exactly the C-cast
// rules `cast` promises: truncation and wrapping for integers, nearest-even for halves.
registerKernel<CastAttrs>({
  op: 'cast',
  backend: REFERENCE,
  fn: ({ inputs: [x], outputs: [out] }) => {
    writeValues(out!, readValues(x!));
  },
});
