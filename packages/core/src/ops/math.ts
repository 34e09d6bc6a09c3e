import { invalidArgument } from '../errors';
import type { Tensor } from '../tensor';
import { binary, type TensorLike, unary } from './elementwise';

// Elementwise math. Transcendental functions need float tensors; abs, square, maximum, minimum and
// clamp also take integer tensors (integers wrap on overflow, as in C). A number operand takes the
// dtype of the tensor operand.

export function exp(x: Tensor): Tensor {
  return unary('exp', x);
}

/** Natural logarithm: -Infinity at 0, NaN below. */
export function log(x: Tensor): Tensor {
  return unary('log', x);
}

export function sqrt(x: Tensor): Tensor {
  return unary('sqrt', x);
}

/** 1 / sqrt(x), as one kernel. */
export function rsqrt(x: Tensor): Tensor {
  return unary('rsqrt', x);
}

export function tanh(x: Tensor): Tensor {
  return unary('tanh', x);
}

export function sin(x: Tensor): Tensor {
  return unary('sin', x);
}

export function cos(x: Tensor): Tensor {
  return unary('cos', x);
}

/** The Gauss error function. */
export function erf(x: Tensor): Tensor {
  return unary('erf', x);
}

/** 1 / (1 + exp(-x)). */
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid', x);
}

export function abs(x: Tensor): Tensor {
  return unary('abs', x, false);
}

/** x * x. */
export function square(x: Tensor): Tensor {
  return unary('square', x, false);
}

/** base ** exponent with broadcasting (float tensors); follows C's pow, so pow(1, NaN) is 1. */
export function pow(base: TensorLike, exponent: TensorLike): Tensor {
  return binary('pow', base, exponent, { float: true });
}

/** The larger of each pair, with broadcasting; NaN wins. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binary('maximum', a, b);
}

/** The smaller of each pair, with broadcasting; NaN wins. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binary('minimum', a, b);
}

/** Bounds of `clamp`; null where there is none (attrs stay plain data). */
export interface ClampAttrs {
  min: number | null;
  max: number | null;
}

/**
 * Limits `x` to [min, max] (either bound may be omitted, not both). Like PyTorch, min > max gives
 * max everywhere and NaN stays NaN. For bounds that are tensors, use maximum and minimum.
 */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) {
    throw invalidArgument('clamp', 'give min, max or both');
  }
  const attrs: ClampAttrs = { min: min ?? null, max: max ?? null };
  return unary('clamp', x, false, attrs);
}
