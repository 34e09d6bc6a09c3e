import { add, cast, noGrad, SlimlmError, scope, type Tensor, transpose } from '@slimlm/core';
import { gptqLoadInfo, moduleQuantization, QuantLinear, rtnQuantize } from '@slimlm/gptq';
import { type CausalLM, Linear, type LinearLayer, type Module } from '@slimlm/models';
import { activeAdapters, forgetAdapters, loraLayers } from '../lora/adapters';
import type { LoraLinear } from '../lora/lora-linear';
import { linearWith } from './dequantize';

export interface MergeOptions {
  /** The adapters to merge (default: the active ones); the others are dropped. */
  adapterNames?: readonly string[];
  /**
   * What a GPTQ base (QuantLinear) becomes: 'rtn' (default) dequantizes, merges and requantizes
   * with round-to-nearest at the layer's own bits, group size and format; 'dequantize' leaves
   * the merged weight as an f32 Linear.
   */
  quantized?: 'rtn' | 'dequantize';
  /**
   * Symmetric requantization (default: the layer's setting in the checkpoint's
   * quantization_config, else true).
   */
  sym?: boolean;
}

/** What mergeAdapter did, by layer path. */
export interface MergeSummary {
  /** Every layer whose weight now holds the merged adapters. */
  merged: string[];
  /** The GPTQ layers among them, requantized with RTN. */
  requantized: string[];
  /** The GPTQ layers among them, now f32 Linears. */
  dequantized: string[];
}

/** `weight` + `delta` ([out, in]; transposed for an [in, out] layout), in f32, as `weight`'s dtype. */
function mergedWeight(weight: Tensor, delta: Tensor, layout: Linear['layout']): Tensor {
  return scope(() => {
    const wide = weight.dtype === 'f64' ? 'f64' : 'f32';
    const oriented = layout === 'in-out' ? transpose(delta) : delta;
    const sum = add(
      weight.dtype === wide ? weight : cast(weight, wide),
      oriented.dtype === wide ? oriented : cast(oriented, wide),
    );
    return sum.dtype === weight.dtype ? sum : cast(sum, weight.dtype);
  });
}

/** Whether `value` is held under more than one parameter path (tied embeddings). */
function isShared(model: Module, value: Tensor): boolean {
  let holders = 0;
  for (const [, t] of model.namedParameters()) if (t === value) holders++;
  return holders > 1;
}

/**
 * Merges adapters into the base weights and removes every LoRA layer, leaving a plain model
 * (PEFT's merge_and_unload): W += Σ scaling · B · A for the merged adapters, computed in f32 and
 * stored in the weight's dtype and layout. A GPTQ base is dequantized, merged and, by default,
 * requantized with RTN (see MergeOptions.quantized), so the model stays a GPTQ model that
 * saveModel writes. Merging into a weight another parameter shares (a tied lm_head) is refused.
 */
export function mergeAdapter(model: CausalLM, options: MergeOptions = {}): MergeSummary {
  const names = options.adapterNames ?? activeAdapters(model);
  const summary: MergeSummary = { merged: [], requantized: [], dequantized: [] };
  const layers = loraLayers(model);
  for (const [path, layer] of layers) {
    const base = layer.base;
    if (base instanceof Linear && isShared(model, base.weight)) {
      const merging = names.some((name) => layer.hasAdapter(name));
      if (merging) {
        throw new SlimlmError(
          'UNSUPPORTED',
          `mergeAdapter: '${path}' shares its weight with another parameter (tied embeddings); merging would change both`,
        );
      }
    }
    if (!(base instanceof Linear) && !(base instanceof QuantLinear)) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `mergeAdapter: '${path}' wraps a ${base.constructor.name}; merging needs a Linear or a QuantLinear`,
      );
    }
  }
  noGrad(() => {
    for (const [path, layer] of layers) {
      const merging = names.filter((name) => layer.hasAdapter(name));
      const replacement =
        merging.length === 0
          ? layer.base
          : mergeLayer(model, path, layer, merging, options, summary);
      model.setModule(path, replacement);
      for (const name of layer.adapterNames) layer.deleteAdapter(name);
      if (replacement !== layer.base) layer.base.dispose();
    }
  });
  forgetAdapters(model);
  return summary;
}

/** The layer that replaces `layer` once `names` are merged into its base. */
function mergeLayer(
  model: CausalLM,
  path: string,
  layer: LoraLinear,
  names: readonly string[],
  options: MergeOptions,
  summary: MergeSummary,
): LinearLayer {
  const delta = scope(() =>
    names.map((name) => layer.deltaWeight(name)).reduce((a, b) => add(a, b)),
  );
  try {
    summary.merged.push(path);
    const base = layer.base;
    if (base instanceof Linear) {
      base.setParameter('weight', mergedWeight(base.weight, delta, base.layout));
      return base;
    }
    const quantized = base as QuantLinear;
    const weight = scope(() => add(quantized.dequantizedWeight(), delta));
    if (options.quantized === 'dequantize') {
      summary.dequantized.push(path);
      return linearWith(quantized, weight);
    }
    try {
      summary.requantized.push(path);
      return requantized(model, path, quantized, weight, options.sym);
    } finally {
      weight.dispose();
    }
  } finally {
    delta.dispose();
  }
}

/** `weight` [out, in] quantized with RTN at `like`'s bits, group size, format and scale dtype. */
function requantized(
  model: CausalLM,
  path: string,
  like: QuantLinear,
  weight: Tensor,
  sym: boolean | undefined,
): QuantLinear {
  const info = gptqLoadInfo(model);
  const settings = {
    bits: like.bits,
    groupSize: like.groupSize,
    sym: sym ?? (info ? (moduleQuantization(info.config, path)?.sym ?? info.config.sym) : true),
  };
  const result = rtnQuantize(weight, settings);
  result.dequantized.dispose();
  const layer = QuantLinear.fromQuantization({
    codes: result.codes,
    scales: result.scales,
    zeros: result.zeros,
    gIdx: result.gIdx,
    bias: like.bias,
    bits: like.bits,
    groupSize: like.groupSize,
    format: like.format,
    scalesDType: like.scales.dtype as 'f16' | 'bf16' | 'f32',
    backend: like.qweight.backend.name,
  });
  layer.train(like.training);
  return layer;
}
