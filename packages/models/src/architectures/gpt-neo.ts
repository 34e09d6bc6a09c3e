import { add, scope, type Tensor, tensor } from '@slimlm/core';
import { architectureConfig, ConfigFields, STANDARD_FIELD_NAMES } from '../config';
import type { ArchitectureConfig, BlockContext, DecoderBlock } from '../model';
import { Linear } from '../nn/linear';
import { Module } from '../nn/module';
import { LayerNorm } from '../nn/norms';
import type { Architecture } from '../registry';
import { activate, activationName, causalSelfAttention, linearAt, splitHeads } from './gpt2';
import { GPT2StyleCausalLM } from './gpt2-style';

/** What GPT-Neo needs beyond ArchitectureConfig, read once from config.json. */
export interface GPTNeoConfig extends ArchitectureConfig {
  intermediateSize: number;
  activation: string;
  layerNormEps: number;
  /** Per layer: 'global' attends to every past key, 'local' to the last `windowSize` only. */
  attentionLayers: ('global' | 'local')[];
  windowSize: number;
}

/** Reads a gpt_neo config.json; errors name the file and field. */
export function readGPTNeoConfig(json: Record<string, unknown>, file: string): GPTNeoConfig {
  const fields = new ConfigFields(file, json);
  const base = architectureConfig(
    fields,
    { ...STANDARD_FIELD_NAMES, numLayers: 'num_layers', numHeads: 'num_heads' },
    { maxPositions: 2048 },
  );
  const attentionLayers = readAttentionLayers(fields);
  if (attentionLayers.length !== base.numLayers) {
    throw fields.invalid(
      'attention_types',
      `a layer pattern covering num_layers (${base.numLayers}) layers`,
      json.attention_types,
    );
  }
  return {
    ...base,
    intermediateSize: fields.integer('intermediate_size', 4 * base.hiddenSize),
    activation: activationName(fields, 'activation_function', 'gelu_new'),
    layerNormEps: fields.number('layer_norm_epsilon', 1e-5),
    attentionLayers,
    windowSize: fields.integer('window_size', 256),
  };
}

/**
 * `attention_types` ([[["global", "local"], 12]]: a pattern repeated n times) expanded to one type
 * per layer, as GPTNeoConfig.expand_attention_types_params does; `attention_layers` (the expanded
 * list, which transformers also saves) when only it is given.
 */
function readAttentionLayers(fields: ConfigFields): ('global' | 'local')[] {
  const isType = (t: unknown): t is 'global' | 'local' => t === 'global' || t === 'local';
  if (fields.has('attention_types')) {
    const value = fields.json.attention_types;
    const layers: ('global' | 'local')[] = [];
    const valid =
      Array.isArray(value) &&
      value.every((entry) => {
        if (!Array.isArray(entry) || entry.length !== 2) return false;
        const [pattern, repeat] = entry as [unknown, unknown];
        if (!Array.isArray(pattern) || !pattern.every(isType)) return false;
        if (typeof repeat !== 'number' || !Number.isInteger(repeat) || repeat < 0) return false;
        for (let i = 0; i < repeat; i++) layers.push(...pattern);
        return true;
      });
    if (!valid) {
      throw fields.invalid(
        'attention_types',
        'a list of [["global" | "local", ...], repeat] entries',
        value,
      );
    }
    return layers;
  }
  const value = fields.json.attention_layers;
  if (!Array.isArray(value) || !value.every(isType)) {
    throw fields.invalid('attention_layers', 'a list of "global" | "local"', value);
  }
  return value;
}

/**
 * Additive mask [1, 1, T, keys] for a local layer: query slot i (of the `keys` slots) sees key
 * slot j iff i - j < window, as GPT-Neo's local bias buffer (tril xor tril(-window)) says; undefined
 * when every key is within the window anyway.
 */
function localWindowMask(window: number, queries: number, keys: number, like: Tensor) {
  if (keys <= window) return undefined;
  const past = keys - queries;
  const values = new Float32Array(queries * keys);
  for (let i = 0; i < queries; i++) {
    for (let j = 0; j <= past + i - window; j++) values[i * keys + j] = Number.NEGATIVE_INFINITY;
  }
  return tensor(values, { shape: [1, 1, queries, keys], dtype: like.dtype, backend: like.backend });
}

/** GPTNeoSelfAttention: q/k/v without bias, out_proj with bias, and no 1/sqrt(d) scaling. */
export class GPTNeoSelfAttention extends Module {
  constructor(
    readonly config: GPTNeoConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize } = config;
    this.addModule('k_proj', new Linear(hiddenSize, hiddenSize));
    this.addModule('v_proj', new Linear(hiddenSize, hiddenSize));
    this.addModule('q_proj', new Linear(hiddenSize, hiddenSize));
    this.addModule('out_proj', new Linear(hiddenSize, hiddenSize, { bias: true }));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { numHeads, headDim, attentionLayers, windowSize } = this.config;
      const heads = (name: string) =>
        splitHeads(linearAt(this, name).forward(hidden), numHeads, headDim);
      const q = heads('q_proj');
      const k = heads('k_proj');
      const v = heads('v_proj');
      let extraMask: Tensor | undefined;
      if (attentionLayers[this.layerIndex] === 'local') {
        const keys = (context.cache?.length(this.layerIndex) ?? 0) + q.shape[2]!;
        extraMask = localWindowMask(windowSize, q.shape[2]!, keys, q);
      }
      // transformers computes GPT-Neo's unscaled scores and softmax in f32 whatever the dtype.
      const merged = causalSelfAttention(q, k, v, context, this.layerIndex, {
        scale: 1,
        dtype: 'f32',
        ...(extraMask ? { extraMask } : {}),
      });
      return linearAt(this, 'out_proj').forward(merged);
    });
  }
}

/** GPTNeoAttention: the `attention` wrapper transformers names in the weight paths. */
class GPTNeoAttention extends Module {
  constructor(config: GPTNeoConfig, layerIndex: number) {
    super();
    this.addModule('attention', new GPTNeoSelfAttention(config, layerIndex));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return (this.getModule('attention') as GPTNeoSelfAttention).forward(hidden, context);
  }
}

/** GPTNeoMLP: c_proj(act(c_fc(x))), torch Linear layers. */
class GPTNeoMLP extends Module {
  constructor(readonly config: GPTNeoConfig) {
    super();
    const { hiddenSize, intermediateSize } = config;
    this.addModule('c_fc', new Linear(hiddenSize, intermediateSize, { bias: true }));
    this.addModule('c_proj', new Linear(intermediateSize, hiddenSize, { bias: true }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const inner = activate(this.config.activation, linearAt(this, 'c_fc').forward(x));
      return linearAt(this, 'c_proj').forward(inner);
    });
  }
}

/** GPTNeoBlock: pre-LayerNorm attention and MLP, each with a residual. */
export class GPTNeoBlock extends Module implements DecoderBlock {
  constructor(
    config: GPTNeoConfig,
    readonly layerIndex: number,
  ) {
    super();
    this.addModule('ln_1', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule('attn', new GPTNeoAttention(config, layerIndex));
    this.addModule('ln_2', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule('mlp', new GPTNeoMLP(config));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const ln1 = this.getModule('ln_1') as LayerNorm;
      const ln2 = this.getModule('ln_2') as LayerNorm;
      const attention = this.getModule('attn') as GPTNeoAttention;
      const mlp = this.getModule('mlp') as GPTNeoMLP;
      const h = add(hidden, attention.forward(ln1.forward(hidden), context));
      return add(h, mlp.forward(ln2.forward(h)));
    });
  }
}

/**
 * The true-sequential Linear groups of a GPT-Neo block (AutoGPTQ has no GPT-Neo definition; this
 * is the order of its separate-projection models such as OPT and GPT-J).
 */
const LINEAR_GROUPS: readonly (readonly string[])[] = [
  ['attn.attention.k_proj', 'attn.attention.v_proj', 'attn.attention.q_proj'],
  ['attn.attention.out_proj'],
  ['mlp.c_fc'],
  ['mlp.c_proj'],
];

/** GPTNeoForCausalLM (HF weight names; lm_head tied to transformer.wte). */
export class GPTNeoForCausalLM extends GPT2StyleCausalLM<GPTNeoConfig> {
  constructor(config: GPTNeoConfig) {
    super(config, (c, i) => new GPTNeoBlock(c, i), LINEAR_GROUPS);
  }
}

/** The gpt-neo architecture entry (registered by architectures/index.ts). */
export const gptNeo: Architecture = {
  modelTypes: ['gpt_neo'],
  description:
    'GPT-Neo (GPTNeoForCausalLM): learned positions, global/local attention, no score scaling',
  create: (config, file) => new GPTNeoForCausalLM(readGPTNeoConfig(config, file)),
};
