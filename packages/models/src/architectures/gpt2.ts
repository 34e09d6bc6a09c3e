import {
  add,
  type DType,
  gelu,
  narrow,
  permute,
  relu,
  reshape,
  SlimlmError,
  scaledDotProductAttention,
  scope,
  silu,
  type Tensor,
} from '@slimlm/core';
import { architectureConfig, ConfigFields } from '../config';
import type { ArchitectureConfig, BlockContext, DecoderBlock } from '../model';
import { inDType, Linear, type LinearLayer } from '../nn/linear';
import { Module } from '../nn/module';
import { LayerNorm } from '../nn/norms';
import type { Architecture } from '../registry';
import { GPT2StyleCausalLM } from './gpt2-style';

/** What GPT-2 needs beyond ArchitectureConfig, read once from config.json. */
export interface GPT2Config extends ArchitectureConfig {
  innerSize: number;
  activation: string;
  layerNormEps: number;
  /** Divide scores by sqrt(headDim) (scale_attn_weights). */
  scaleAttnWeights: boolean;
  /** Also divide scores by layer index + 1 (scale_attn_by_inverse_layer_idx). */
  scaleByInverseLayerIndex: boolean;
}

/** Reads a gpt2 config.json; errors name the file and field. */
export function readGPT2Config(json: Record<string, unknown>, file: string): GPT2Config {
  const fields = new ConfigFields(file, json);
  const base = architectureConfig(fields, {
    vocabSize: 'vocab_size',
    hiddenSize: 'n_embd',
    numLayers: 'n_layer',
    numHeads: 'n_head',
    maxPositions: 'n_positions',
  });
  if (fields.boolean('add_cross_attention', false)) {
    throw fields.unsupported('add_cross_attention', true, 'false');
  }
  return {
    ...base,
    innerSize: fields.integer('n_inner', 4 * base.hiddenSize),
    activation: activationName(fields, 'activation_function', 'gelu_new'),
    layerNormEps: fields.number('layer_norm_epsilon', 1e-5),
    scaleAttnWeights: fields.boolean('scale_attn_weights', true),
    scaleByInverseLayerIndex: fields.boolean('scale_attn_by_inverse_layer_idx', false),
  };
}

/** transformers' ACT2FN names that these architectures use, and what each computes. */
const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  gelu: (x) => gelu(x),
  // gelu_new, gelu_fast and gelu_pytorch_tanh are all the tanh approximation, written differently.
  gelu_new: (x) => gelu(x, { approximate: 'tanh' }),
  gelu_fast: (x) => gelu(x, { approximate: 'tanh' }),
  gelu_pytorch_tanh: (x) => gelu(x, { approximate: 'tanh' }),
  relu: (x) => relu(x),
  silu: (x) => silu(x),
  swish: (x) => silu(x),
};

/** A config field naming an activation (HF ACT2FN key); UNSUPPORTED for one slimlm lacks. */
export function activationName(fields: ConfigFields, field: string, fallback: string): string {
  const name = fields.string(field, fallback);
  if (!(name in ACTIVATIONS)) {
    throw fields.unsupported(field, name, Object.keys(ACTIVATIONS).join(', '));
  }
  return name;
}

/** Applies the activation `name` (checked by `activationName`). */
export function activate(name: string, x: Tensor): Tensor {
  const fn = ACTIVATIONS[name];
  if (!fn) throw new SlimlmError('INVALID_ARGUMENT', `activation '${name}' is not supported`);
  return fn(x);
}

/** [B, T, heads·D] → [B, heads, T, D] (a view). */
export function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  const [batch, length] = x.shape as [number, number, number];
  return permute(reshape(x, [batch, length, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, heads, T, D] → [B, T, heads·D]. */
export function mergeHeads(x: Tensor): Tensor {
  const [batch, heads, length, headDim] = x.shape as [number, number, number, number];
  return reshape(permute(x, [0, 2, 1, 3]), [batch, length, heads * headDim]);
}

/**
 * Causal attention of one block over heads-split q, k, v [B, H, T, D]: appends k and v to the
 * context's cache, applies the padding mask (plus `extraMask`, additive), returns [B, T, H·D] in
 * q's dtype. `dtype` runs the attention itself in another dtype (GPT-Neo's f32 scores).
 */
export function causalSelfAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  context: BlockContext,
  layerIndex: number,
  options: { scale: number; extraMask?: Tensor; dtype?: DType },
): Tensor {
  let keys = k;
  let values = v;
  if (context.cache) ({ k: keys, v: values } = context.cache.append(layerIndex, k, v));
  let mask = context.paddingMask;
  if (options.extraMask) mask = mask ? add(mask, options.extraMask) : options.extraMask;
  const dtype = options.dtype ?? q.dtype;
  const attended = scaledDotProductAttention(
    inDType(q, dtype),
    inDType(keys, dtype),
    inDType(values, dtype),
    { causal: true, scale: options.scale, ...(mask ? { mask: inDType(mask, dtype) } : {}) },
  );
  return mergeHeads(inDType(attended, q.dtype));
}

/** Linear layers of a module by name, looked up each call so that swapped-in layers are used. */
export function linearAt(module: Module, name: string): LinearLayer {
  return module.getModule(name) as LinearLayer;
}

/** GPT2Attention: fused c_attn (Conv1D, q|k|v along the output), c_proj. */
export class GPT2Attention extends Module {
  constructor(
    readonly config: GPT2Config,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize } = config;
    this.addModule(
      'c_attn',
      new Linear(hiddenSize, 3 * hiddenSize, { bias: true, layout: 'in-out' }),
    );
    this.addModule('c_proj', new Linear(hiddenSize, hiddenSize, { bias: true, layout: 'in-out' }));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { hiddenSize, numHeads, headDim, scaleAttnWeights, scaleByInverseLayerIndex } =
        this.config;
      const fused = linearAt(this, 'c_attn').forward(hidden);
      const [q, k, v] = [0, 1, 2].map((i) =>
        splitHeads(narrow(fused, 2, i * hiddenSize, hiddenSize), numHeads, headDim),
      ) as [Tensor, Tensor, Tensor];
      let scale = scaleAttnWeights ? 1 / Math.sqrt(headDim) : 1;
      if (scaleByInverseLayerIndex) scale /= this.layerIndex + 1;
      const merged = causalSelfAttention(q, k, v, context, this.layerIndex, { scale });
      return linearAt(this, 'c_proj').forward(merged);
    });
  }
}

/** GPT2MLP: c_proj(act(c_fc(x))), both Conv1D. */
export class GPT2MLP extends Module {
  constructor(readonly config: GPT2Config) {
    super();
    const { hiddenSize, innerSize } = config;
    this.addModule('c_fc', new Linear(hiddenSize, innerSize, { bias: true, layout: 'in-out' }));
    this.addModule('c_proj', new Linear(innerSize, hiddenSize, { bias: true, layout: 'in-out' }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const inner = activate(this.config.activation, linearAt(this, 'c_fc').forward(x));
      return linearAt(this, 'c_proj').forward(inner);
    });
  }
}

/** GPT2Block: pre-LayerNorm attention and MLP, each with a residual. */
export class GPT2Block extends Module implements DecoderBlock {
  constructor(
    config: GPT2Config,
    readonly layerIndex: number,
  ) {
    super();
    this.addModule('ln_1', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule('attn', new GPT2Attention(config, layerIndex));
    this.addModule('ln_2', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule('mlp', new GPT2MLP(config));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const ln1 = this.getModule('ln_1') as LayerNorm;
      const ln2 = this.getModule('ln_2') as LayerNorm;
      const attention = this.getModule('attn') as GPT2Attention;
      const mlp = this.getModule('mlp') as GPT2MLP;
      const h = add(hidden, attention.forward(ln1.forward(hidden), context));
      return add(h, mlp.forward(ln2.forward(h)));
    });
  }
}

/** The true-sequential Linear groups of a GPT-2 block (AutoGPTQ's inside_layer_modules). */
const LINEAR_GROUPS: readonly (readonly string[])[] = [
  ['attn.c_attn'],
  ['attn.c_proj'],
  ['mlp.c_fc'],
  ['mlp.c_proj'],
];

/** GPT2LMHeadModel (HF weight names; lm_head tied to transformer.wte). */
export class GPT2LMHeadModel extends GPT2StyleCausalLM<GPT2Config> {
  constructor(config: GPT2Config) {
    super(config, (c, i) => new GPT2Block(c, i), LINEAR_GROUPS);
  }
}

/** The gpt2 architecture entry (registered by architectures/index.ts). */
export const gpt2: Architecture = {
  modelTypes: ['gpt2'],
  description: 'GPT-2 (GPT2LMHeadModel): learned positions, Conv1D projections, LayerNorm, GELU',
  create: (config, file) => new GPT2LMHeadModel(readGPT2Config(config, file)),
};
