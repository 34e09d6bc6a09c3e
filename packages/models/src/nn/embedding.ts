import { type DType, embedding, scope, type Tensor } from '@slimlm/core';
import { inDType } from './linear';
import { Module } from './module';

/** A lookup table [count, dim]: ids [...] → vectors [..., dim] in the compute dtype. */
export class Embedding extends Module {
  constructor(
    readonly count: number,
    readonly dim: number,
  ) {
    super();
    this.declareParameter('weight', [count, dim]);
  }

  get weight(): Tensor {
    return this.parameter('weight');
  }

  forward(ids: Tensor, dtype: DType): Tensor {
    return scope(() => inDType(embedding(this.weight, ids), dtype));
  }
}
