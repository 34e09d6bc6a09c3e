import { registerGradient } from '../../kernels';
import { cast } from '../../ops/cast';
import { matmul } from '../../ops/matmul';
import { transpose } from '../../ops/view';
import type { Tensor } from '../../tensor';

// The matmul kernel sees equal batch axes (broadcastTo and reshape record their own gradients),
// so dA = dy @ B^T and dB = A^T @ dy already have the inputs' shapes. Transposes are free views.
// With an f16/bf16 B under an f32 A (mixed precision), dy is f32: dA = dy @ B^T is itself a mixed
// product, and dB is computed in f32 and rounded to B's dtype, only when B needs a gradient.
registerGradient('matmul', ({ inputs: [a, b], gradOutputs: [dy], needsGrad }) => {
  let gradB: Tensor | null = null;
  if (needsGrad[1]) {
    gradB = matmul(transpose(a!), dy!);
    if (gradB.dtype !== b!.dtype) gradB = cast(gradB, b!.dtype);
  }
  return [needsGrad[0] ? matmul(dy!, transpose(b!)) : null, gradB];
});
