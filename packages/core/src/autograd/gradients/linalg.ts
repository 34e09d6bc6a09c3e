import { registerGradient } from '../../kernels';
import { matmul } from '../../ops/matmul';
import { transpose } from '../../ops/view';

// The matmul kernel sees equal batch axes (broadcastTo and reshape record their own gradients),
// so dA = dy @ B^T and dB = A^T @ dy already have the inputs' shapes. Transposes are free views.
registerGradient('matmul', ({ inputs: [a, b], gradOutputs: [dy], needsGrad }) => [
  needsGrad[0] ? matmul(dy!, transpose(b!)) : null,
  needsGrad[1] ? matmul(transpose(a!), dy!) : null,
]);
