import { isFloatDType } from '../../dtype';
import { type GradientFn, registerGradient } from '../../kernels';
import { scope } from '../../memory';
import type { GeluAttrs } from '../../ops/activation';
import { cast } from '../../ops/cast';
import { equal, greater, greaterEqual, less, lessEqual, where } from '../../ops/compare';
import { add, div, mul, neg, sub } from '../../ops/elementwise';
import {
  type ClampAttrs,
  cos,
  erf,
  exp,
  log,
  pow,
  sigmoid,
  sin,
  square,
  tanh,
} from '../../ops/math';
import type { Tensor } from '../../tensor';

// Operands reach these kernels already broadcast, so every gradient has the output's shape. Each
// runs in a scope of its own: its temporaries go as soon as it returns, not at the end of backward.

function registerScoped<A>(op: string, fn: GradientFn<A>): void {
  registerGradient<A>(op, (args) => scope(() => fn(args)));
}

registerScoped('exp', ({ outputs: [y], gradOutputs: [dy] }) => [mul(dy!, y!)]);

registerScoped('log', ({ inputs: [x], gradOutputs: [dy] }) => [div(dy!, x!)]);

registerScoped('sqrt', ({ outputs: [y], gradOutputs: [dy] }) => [div(dy!, mul(y!, 2))]);

// d/dx x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2.
registerScoped('rsqrt', ({ outputs: [y], gradOutputs: [dy] }) => [
  mul(dy!, mul(mul(y!, square(y!)), -0.5)),
]);

registerScoped('tanh', ({ outputs: [y], gradOutputs: [dy] }) => [mul(dy!, sub(1, square(y!)))]);

// sign(x) * dy, with 0 at x = 0 as in PyTorch.
registerScoped('abs', ({ inputs: [x], gradOutputs: [dy] }) => [
  where(greater(x!, 0), dy!, where(less(x!, 0), neg(dy!), 0)),
]);

registerScoped('square', ({ inputs: [x], gradOutputs: [dy] }) => [mul(dy!, mul(x!, 2))]);

registerScoped('sin', ({ inputs: [x], gradOutputs: [dy] }) => [mul(dy!, cos(x!))]);

registerScoped('cos', ({ inputs: [x], gradOutputs: [dy] }) => [mul(dy!, neg(sin(x!)))]);

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

registerScoped('erf', ({ inputs: [x], gradOutputs: [dy] }) => [
  mul(dy!, mul(exp(neg(square(x!))), TWO_OVER_SQRT_PI)),
]);

registerScoped('sigmoid', ({ outputs: [y], gradOutputs: [dy] }) => [mul(dy!, mul(y!, sub(1, y!)))]);

// Like PyTorch, the gradients are 0 rather than NaN where the formula is 0 * Inf: for the base
// where the exponent is 0, for the exponent where the base is 0 and the exponent is non-negative.
registerScoped(
  'pow',
  ({ inputs: [base, exponent], outputs: [y], gradOutputs: [dy], needsGrad }) => {
    const baseGrad = needsGrad[0]
      ? where(equal(exponent!, 0), 0, mul(dy!, mul(exponent!, pow(base!, sub(exponent!, 1)))))
      : null;
    const exponentGrad = needsGrad[1]
      ? where(mul(equal(base!, 0), greaterEqual(exponent!, 0)), 0, mul(dy!, mul(y!, log(base!))))
      : null;
    return [baseGrad, exponentGrad];
  },
);

/**
 * maximum/minimum send the gradient to the operand that was chosen; on a tie each operand gets
 * half, as PyTorch does, so the two halves still sum to the output's gradient.
 */
function selectionGradient(chosen: (a: Tensor, b: Tensor) => Tensor): GradientFn {
  return ({ inputs: [a, b], gradOutputs: [dy], needsGrad }) => {
    const tie = equal(a!, b!);
    const half = where(tie, mul(dy!, 0.5), 0);
    return [
      needsGrad[0] ? where(chosen(a!, b!), dy!, half) : null,
      needsGrad[1] ? where(chosen(b!, a!), dy!, half) : null,
    ];
  };
}

registerScoped('maximum', selectionGradient(greater));

registerScoped('minimum', selectionGradient(less));

// The gradient passes where min <= x <= max, bounds included, as in PyTorch.
registerScoped<ClampAttrs>('clamp', ({ inputs: [x], gradOutputs: [dy], attrs }) => {
  let inside: Tensor | null = null;
  if (attrs.min !== null) inside = greaterEqual(x!, attrs.min);
  if (attrs.max !== null) {
    const belowMax = lessEqual(x!, attrs.max);
    inside = inside === null ? belowMax : mul(inside, belowMax);
  }
  return [where(inside!, dy!, 0)];
});

registerScoped('relu', ({ inputs: [x], gradOutputs: [dy] }) => [where(greater(x!, 0), dy!, 0)]);

// d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x).
registerScoped('silu', ({ inputs: [x], gradOutputs: [dy] }) => {
  const s = sigmoid(x!);
  return [mul(dy!, mul(s, add(1, mul(x!, sub(1, s)))))];
});

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const TANH_CUBIC = 0.044715;

registerScoped<GeluAttrs>('gelu', ({ inputs: [x], gradOutputs: [dy], attrs }) => {
  if (attrs.approximate === 'tanh') {
    // y = x (1 + t) / 2 with t = tanh(u), u = k (x + c x^3):
    // dy/dx = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2.
    const x2 = square(x!);
    const t = tanh(mul(add(x!, mul(mul(x2, x!), TANH_CUBIC)), SQRT_2_OVER_PI));
    const du = mul(add(mul(x2, 3 * TANH_CUBIC), 1), SQRT_2_OVER_PI);
    const slope = add(mul(add(t, 1), 0.5), mul(mul(x!, sub(1, square(t))), mul(du, 0.5)));
    return [mul(dy!, slope)];
  }
  // y = x Phi(x): dy/dx = Phi(x) + x phi(x), with Phi the normal CDF and phi its density.
  const cdf = mul(add(erf(mul(x!, Math.SQRT1_2)), 1), 0.5);
  const density = mul(exp(mul(square(x!), -0.5)), INV_SQRT_2PI);
  return [mul(dy!, add(cdf, mul(x!, density)))];
});

registerScoped('where', ({ inputs: [condition], gradOutputs: [dy], needsGrad }) => [
  null,
  needsGrad[1] ? where(condition!, dy!, 0) : null,
  needsGrad[2] ? where(condition!, 0, dy!) : null,
]);

registerScoped('maskedFill', ({ inputs: [, mask], gradOutputs: [dy] }) => [
  where(mask!, 0, dy!),
  null,
]);

// Only float-to-float casts are recorded with a gradient to pass on; an integer input has none.
registerScoped('cast', ({ inputs: [x], gradOutputs: [dy] }) => [
  isFloatDType(x!.dtype) ? cast(dy!, x!.dtype) : null,
]);
