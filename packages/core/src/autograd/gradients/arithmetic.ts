import { registerGradient } from '../../kernels';
import { div, mul, neg } from '../../ops/elementwise';

// Operands reach elementwise kernels already broadcast (broadcastTo records its own gradient), so
// these gradients are shaped like the output.

registerGradient('add', ({ gradOutputs: [dy] }) => [dy!, dy!]);

registerGradient('sub', ({ gradOutputs: [dy] }) => [dy!, neg(dy!)]);

registerGradient('mul', ({ inputs: [a, b], gradOutputs: [dy] }) => [mul(dy!, b!), mul(dy!, a!)]);

registerGradient('div', ({ inputs: [a, b], outputs: [y], gradOutputs: [dy] }) => {
  const da = div(dy!, b!);
  const quotient = mul(da, y!);
  const db = neg(quotient);
  quotient.dispose();
  return [da, db];
});


registerGradient('neg', ({ gradOutputs: [dy] }) => [neg(dy!)]);
