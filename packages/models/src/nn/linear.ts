import {
  add,
  cast,
  type DType,
  linear,
  matmul,
  multipliesDirectly,
  scope,
  type Tensor,
} from '@slimlm/core';
import { Module } from './module';

/**
 * What every linear layer offers, whatever holds its weight (a dense matrix, GPTQ-packed codes,
 * a base plus LoRA adapters): quantization and adapters find these by path and swap them.
 */
export interface LinearLayer extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [..., inFeatures] → [..., outFeatures], in x's dtype. */
  forward(x: Tensor): Tensor;
}

export interface LinearOptions {
  bias?: boolean;
  /**
   * How the weight is stored: 'out-in' ([out, in], torch.nn.Linear) or 'in-out' ([in, out], the
   * Conv1D of GPT-2). Only the checkpoint layout differs; the layer computes the same thing.
   */
  layout?: 'out-in' | 'in-out';
}

/**
 * y = x Wᵀ + b. Weights may be stored in f16/bf16: under f32 activations the weight goes to the
 * product as stored (core's matmul computes f32 by f16/bf16 directly, no f32 copy), which makes
 * half-size weights as fast as f32 ones; under other activation dtypes it is cast per call.
 */
export class Linear extends Module implements LinearLayer {
  readonly layout: 'out-in' | 'in-out';
  readonly hasBias: boolean;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    this.layout = options.layout ?? 'out-in';
    this.hasBias = options.bias ?? false;
    this.declareParameter(
      'weight',
      this.layout === 'out-in' ? [outFeatures, inFeatures] : [inFeatures, outFeatures],
    );
    if (this.hasBias) this.declareParameter('bias', [outFeatures]);
  }

  /** The weight as stored ([out, in] or [in, out] by `layout`). */
  get weight(): Tensor {
    return this.parameter('weight');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const weight = asWeight(this.weight, x.dtype);
      const bias = this.bias ? inDType(this.bias, x.dtype) : null;
      if (this.layout === 'out-in') return linear(x, weight, bias);
      const product = matmul(x, weight);
      return bias ? add(product, bias) : product;
    });
  }
}

/**
 * A weight `t` as the second operand of a matmul with activations in `dtype`: as stored when
 * matmul takes it (the same dtype, or f16/bf16 under f32 activations), else a cast copy.
 */
export function asWeight(t: Tensor, dtype: DType): Tensor {
  return multipliesDirectly(dtype, t.dtype) ? t : cast(t, dtype);
}

/** `t` in `dtype`: itself when it already is, else a cast copy (freed by the caller's scope). */
export function inDType(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : cast(t, dtype);
}
