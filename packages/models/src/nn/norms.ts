import { layerNorm, rmsNorm, scope, type Tensor } from '@slimlm/core';
import { inDType } from './linear';
import { Module } from './module';

/** RMSNorm (Llama): x / sqrt(mean(x²) + eps) * weight. */
export class RMSNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps: number,
  ) {
    super();
    this.declareParameter('weight', [dim]);
  }

  forward(x: Tensor): Tensor {
    return scope(() => rmsNorm(x, inDType(this.parameter('weight'), x.dtype), { eps: this.eps }));
  }
}

/** LayerNorm with weight and (optionally) bias, as torch.nn.LayerNorm. */
export class LayerNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.declareParameter('weight', [dim]);
    if (options.bias ?? true) this.declareParameter('bias', [dim]);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const bias = this.optionalParameter('bias');
      return layerNorm(
        x,
        inDType(this.parameter('weight'), x.dtype),
        bias ? inDType(bias, x.dtype) : null,
        { eps: this.eps },
      );
    });
  }
}
