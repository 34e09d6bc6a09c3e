import { registerGradient } from '../../kernels';
import { div, mul, neg } from '../../ops/elementwise';

// Operands reach elementwise kernels already broadcast (broadcastTo records its own gradient), so
// these gradients are shaped like the output.

registerGradient('add', ({ gradOutputs: [dy] }) => [dy!, dy!]);

registerGradient('sub', ({ gradOutputs: [dy], needsGrad }) => [
  dy!,
  needsGrad[1] ? neg(dy!) : null,
]);

registerGradient('mul', ({ inputs: [a, b], gradOutputs: [dy], needsGrad }) => [
  needsGrad[0] ? mul(dy!, b!) : null,
  needsGrad[1] ? mul(dy!, a!) : null,
]);

// d(a/b)/db = -(dy / b) * (a / b): reuses the saved quotient y = a / b.
registerGradient('div', ({ inputs: [, b], outputs: [y], gradOutputs: [dy], needsGrad }) => {
  const da = div(dy!, b!);
  if (!needsGrad[1]) return [da, null];
  const quotient = mul(da, y!);
  const db = neg(quotient);
  quotient.dispose();
  return [needsGrad[0] ? da : null, db];
});

registerGradient('neg', ({ gradOutputs: [dy] }) => [neg(dy!)]);
