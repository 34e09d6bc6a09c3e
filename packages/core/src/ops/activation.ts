import { invalidArgument } from '../errors';
import type { Tensor } from '../tensor';
import { unary } from './elementwise';

// Activations are ops of their own rather than compositions, so that native backends can run
// each as one fused kernel.

/** max(x, 0); integer tensors too. */
export function relu(x: Tensor): Tensor {
  return unary('relu', x, false);
}

/** x * sigmoid(x) (also called swish), the activation of Llama-style MLPs. */
export function silu(x: Tensor): Tensor {
  return unary('silu', x);
}

export interface GeluAttrs {
  /** 'none': the exact x * Phi(x) with erf; 'tanh': PyTorch's approximate='tanh' form. */
  approximate: 'none' | 'tanh';
}

/** x * Phi(x), Phi the standard normal CDF, exactly (default) or in the tanh approximation. */
export function gelu(x: Tensor, options: Partial<GeluAttrs> = {}): Tensor {
  const approximate = options.approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw invalidArgument(
      'gelu',
      `approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`,
    );
  }
  const attrs: GeluAttrs = { approximate };
  return unary('gelu', x, true, attrs);
}
