import { detach, noGrad, type Tensor } from '@slimlm/core';
import { QuantLinear } from '@slimlm/gptq';
import { type CausalLM, Linear, type LinearLayer } from '@slimlm/models';

/** An f32 Linear holding `weight` [out, in] with `base`'s bias (shared storage). */
export function linearWith(base: LinearLayer & { bias: Tensor | null }, weight: Tensor): Linear {
  const bias = base.bias;
  const linear = new Linear(base.inFeatures, base.outFeatures, { bias: bias !== null });
  linear.setParameter('weight', weight);
  // A view keeps the storage alive once the old layer is disposed.
  if (bias) linear.setParameter('bias', detach(bias));
  linear.train(base.training);
  return linear;
}

/**
 * Replaces every QuantLinear of `model` by an f32 Linear holding its dequantized weight (the
 * exact f32 values the packed codes mean) and its bias; returns their paths.
 */
export function dequantizeModel(model: CausalLM): string[] {
  const paths: string[] = [];
  noGrad(() => {
    for (const [path, module] of [...model.namedModules()]) {
      if (!(module instanceof QuantLinear)) continue;
      model.setModule(path, linearWith(module, module.dequantizedWeight())).dispose();
      paths.push(path);
    }
  });
  return paths;
}
