import {
  add,
  applyRotary,
  type DType,
  mul,
  permute,
  reshape,
  rotaryTables,
  SlimlmError,
  scaledDotProductAttention,
  scope,
  silu,
  type Tensor,
  tensor,
} from '@slimlm/core';
import { architectureConfig, ConfigFields, STANDARD_FIELD_NAMES } from '../config';
import type { ArchitectureConfig, BlockContext, DecoderBlock, DecoderBlockInfo } from '../model';
import { CausalLM } from '../model';
import { Embedding } from '../nn/embedding';
import { Linear, type LinearLayer } from '../nn/linear';
import { Module } from '../nn/module';
import { ModuleList } from '../nn/module-list';
import { RMSNorm } from '../nn/norms';
import type { Architecture } from '../registry';

/** What the llama family needs beyond ArchitectureConfig, read once from config.json. */
export interface LlamaConfig extends ArchitectureConfig {
  intermediateSize: number;
  rmsNormEps: number;
  /** Bias on q, k, v projections (Llama attention_bias; always on for Qwen2). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama attention_bias; never for Qwen2). */
  outputBias: boolean;
  mlpBias: boolean;
  rope: RopeSettings;
  /** Attention span in positions (Mistral sliding_window); undefined for full attention. */
  slidingWindow?: number;
}

/** RoPE frequencies: the base θ and the rope_scaling rule applied to them. */
export interface RopeSettings {
  theta: number;
  scaling:
    | { type: 'none' }
    | { type: 'linear'; factor: number }
    | { type: 'dynamic'; factor: number; maxPositions: number }
    | {
        type: 'llama3';
        factor: number;
        lowFreqFactor: number;
        highFreqFactor: number;
        originalMaxPositions: number;
      };
}

const ROPE_TYPES = "'default', 'linear', 'dynamic', 'llama3'";

/** Reads a llama / mistral / qwen2 config.json; errors name the file and field. */
export function readLlamaConfig(json: Record<string, unknown>, file: string): LlamaConfig {
  const fields = new ConfigFields(file, json);
  const modelType = fields.string('model_type');
  const qwen2 = modelType === 'qwen2';
  const base = architectureConfig(
    fields,
    { ...STANDARD_FIELD_NAMES, numKvHeads: 'num_key_value_heads', headDim: 'head_dim' },
    { tieWordEmbeddings: false, maxPositions: modelType === 'llama' ? 2048 : 32768 },
  );
  const activation = fields.string('hidden_act', 'silu');
  if (activation !== 'silu') throw fields.unsupported('hidden_act', activation, "'silu'");
  const attentionBias = fields.boolean('attention_bias', false);
  // Qwen2 declares sliding_window but uses it only with use_sliding_window, and then on some
  // layers only; Mistral applies it everywhere.
  if (qwen2 && fields.boolean('use_sliding_window', false)) {
    throw fields.unsupported('use_sliding_window', true, 'false');
  }
  const slidingWindow =
    !qwen2 && fields.has('sliding_window') ? fields.integer('sliding_window') : undefined;
  return {
    ...base,
    intermediateSize: fields.integer('intermediate_size'),
    rmsNormEps: fields.number('rms_norm_eps', 1e-6),
    qkvBias: qwen2 || attentionBias,
    outputBias: !qwen2 && attentionBias,
    mlpBias: fields.boolean('mlp_bias', false),
    rope: readRope(fields, base.maxPositions),
    ...(slidingWindow === undefined ? {} : { slidingWindow }),
  };
}

function readRope(fields: ConfigFields, maxPositions: number): RopeSettings {
  // transformers 5 writes `rope_parameters` ({rope_type, rope_theta, factor, ...}); transformers 4
  // wrote a top-level `rope_theta` and `rope_scaling` ({type | rope_type, factor, ...}). Like
  // transformers 5, take rope_scaling when it is a non-empty object, else rope_parameters, and the
  // theta from that object, else the top-level rope_theta, else 10000.
  const nonEmpty = (name: string) => {
    const object = fields.object(name);
    return object && Object.keys(object.json).length > 0 ? object : undefined;
  };
  let scaling = nonEmpty('rope_scaling') ?? nonEmpty('rope_parameters');
  // Parameters per layer type ({full_attention: {...}}, keys from layer_types, as transformers 5
  // nests them): the layers these architectures run are all full attention.
  const layerTypes = fields.json.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.includes('full_attention')) {
    scaling = scaling?.object('full_attention') ?? scaling;
  }
  const topTheta = fields.number('rope_theta', 10000);
  if (!scaling) return { theta: topTheta, scaling: { type: 'none' } };
  const theta = scaling.has('rope_theta') ? scaling.number('rope_theta') : topTheta;
  // transformers reads `rope_type`, falling back to the older `type`.
  const typeField = scaling.has('rope_type') ? 'rope_type' : 'type';
  const type = scaling.string(typeField, 'default');
  const factor = () => {
    const value = scaling.number('factor');
    if (value < 1) throw scaling.invalid('factor', 'a number >= 1', value);
    return value;
  };
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'none' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: factor() } };
    case 'dynamic':
      return { theta, scaling: { type: 'dynamic', factor: factor(), maxPositions } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: factor(),
          lowFreqFactor: scaling.number('low_freq_factor'),
          highFreqFactor: scaling.number('high_freq_factor'),
          // transformers 5 falls back to max_position_embeddings (for these model types it
          // ignores a top-level original_max_position_embeddings).
          originalMaxPositions: scaling.integer('original_max_position_embeddings', maxPositions),
        },
      };
    default:
      throw scaling.unsupported(typeField, type, ROPE_TYPES);
  }
}

/**
 * HF's inv_freq after rope_scaling, each step rounded to f32 as transformers computes it;
 * `length` (the largest position + 1) matters only for dynamic NTK scaling.
 */
export function ropeInverseFrequencies(rope: RopeSettings, dim: number, length: number): number[] {
  const f32 = Math.fround;
  const { scaling } = rope;
  let theta = rope.theta;
  if (scaling.type === 'dynamic') {
    const seen = Math.max(length, scaling.maxPositions);
    const stretch = (scaling.factor * seen) / scaling.maxPositions - (scaling.factor - 1);
    theta *= stretch ** (dim / (dim - 2));
  }
  const inverse = Array.from({ length: dim / 2 }, (_, i) =>
    f32(1 / f32(theta ** f32((2 * i) / dim))),
  );
  if (scaling.type === 'linear') return inverse.map((f) => f32(f / scaling.factor));
  if (scaling.type !== 'llama3') return inverse;
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
  const lowFreqWavelength = originalMaxPositions / lowFreqFactor;
  const highFreqWavelength = originalMaxPositions / highFreqFactor;
  return inverse.map((f) => {
    const wavelength = f32((2 * Math.PI) / f);
    if (wavelength < highFreqWavelength) return f;
    if (wavelength > lowFreqWavelength) return f32(f / factor);
    const smooth = f32(
      (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor),
    );
    return f32(f32(((1 - smooth) * f) / factor) + f32(smooth * f));
  });
}

/** cos/sin [batch, 1, T, dim] for the context's positions, in `dtype`, on the ids' backend. */
function rotaryForContext(
  rope: RopeSettings,
  dim: number,
  context: BlockContext,
  dtype: DType,
): { cos: Tensor; sin: Tensor } {
  const [batch, length] = context.positionIds.shape as [number, number];
  const backend = context.positionIds.backend;
  const shape = [batch, 1, length, dim];
  if (rope.scaling.type === 'none') {
    const tables = rotaryTables(context.positionIds, dim, { base: rope.theta, dtype, backend });
    return { cos: reshape(tables.cos, shape), sin: reshape(tables.sin, shape) };
  }
  const positions = context.positions;
  const longest = positions.reduce((m, p) => Math.max(m, p), 0) + 1;
  const inverse = ropeInverseFrequencies(rope, dim, longest);
  const half = dim / 2;
  const cos = new Float64Array(positions.length * dim);
  const sin = new Float64Array(positions.length * dim);
  for (let p = 0; p < positions.length; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(Math.fround(positions[p]!) * inverse[i]!);
      cos[p * dim + i] = cos[p * dim + half + i] = Math.cos(angle);
      sin[p * dim + i] = sin[p * dim + half + i] = Math.sin(angle);
    }
  }
  return {
    cos: tensor(cos, { shape, dtype, backend }),
    sin: tensor(sin, { shape, dtype, backend }),
  };
}

/**
 * Additive mask [1, 1, T, past + T] hiding keys more than `window` - 1 slots behind each query
 * (Mistral: query slot i sees key slot j iff i - j < window), or undefined when every key is within
 * the window anyway.
 */
function slidingWindowMask(
  window: number | undefined,
  queries: number,
  keys: number,
  like: Tensor,
): Tensor | undefined {
  if (window === undefined || keys <= window) return undefined;
  const past = keys - queries;
  const values = new Float32Array(queries * keys);
  for (let i = 0; i < queries; i++) {
    for (let j = 0; j <= past + i - window; j++) values[i * keys + j] = Number.NEGATIVE_INFINITY;
  }
  return tensor(values, { shape: [1, 1, queries, keys], dtype: like.dtype, backend: like.backend });
}

/** Splits [B, T, heads·D] into heads: [B, heads, T, D]. */
function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  const [batch, length] = x.shape as [number, number, number];
  return permute(reshape(x, [batch, length, heads, headDim]), [0, 2, 1, 3]);
}

export class LlamaAttention extends Module {
  constructor(
    readonly config: LlamaConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize, numHeads, numKvHeads, headDim, qkvBias, outputBias } = config;
    this.addModule('q_proj', new Linear(hiddenSize, numHeads * headDim, { bias: qkvBias }));
    this.addModule('k_proj', new Linear(hiddenSize, numKvHeads * headDim, { bias: qkvBias }));
    this.addModule('v_proj', new Linear(hiddenSize, numKvHeads * headDim, { bias: qkvBias }));
    this.addModule('o_proj', new Linear(numHeads * headDim, hiddenSize, { bias: outputBias }));
  }

  private projection(name: string): LinearLayer {
    return this.getModule(name) as LinearLayer;
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { numHeads, numKvHeads, headDim, slidingWindow } = this.config;
      const [batch, length] = hidden.shape as [number, number, number];
      let q = splitHeads(this.projection('q_proj').forward(hidden), numHeads, headDim);
      let k = splitHeads(this.projection('k_proj').forward(hidden), numKvHeads, headDim);
      let v = splitHeads(this.projection('v_proj').forward(hidden), numKvHeads, headDim);
      if (!context.rotary) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          'LlamaAttention: the context has no rotary tables',
        );
      }
      q = applyRotary(q, context.rotary.cos, context.rotary.sin);
      k = applyRotary(k, context.rotary.cos, context.rotary.sin);
      if (context.cache) ({ k, v } = context.cache.append(this.layerIndex, k, v));
      let mask = context.paddingMask;
      const windowMask = slidingWindowMask(slidingWindow, length, k.shape[2]!, q);
      if (windowMask) mask = mask ? add(mask, windowMask) : windowMask;
      const attended = scaledDotProductAttention(q, k, v, {
        causal: true,
        ...(mask ? { mask } : {}),
      });
      const merged = reshape(permute(attended, [0, 2, 1, 3]), [batch, length, numHeads * headDim]);
      return this.projection('o_proj').forward(merged);
    });
  }
}

/** SwiGLU: down(silu(gate(x)) · up(x)). */
export class LlamaMLP extends Module {
  constructor(config: LlamaConfig) {
    super();
    const { hiddenSize, intermediateSize, mlpBias } = config;
    this.addModule('gate_proj', new Linear(hiddenSize, intermediateSize, { bias: mlpBias }));
    this.addModule('up_proj', new Linear(hiddenSize, intermediateSize, { bias: mlpBias }));
    this.addModule('down_proj', new Linear(intermediateSize, hiddenSize, { bias: mlpBias }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const layer = (name: string) => this.getModule(name) as LinearLayer;
      const gated = mul(silu(layer('gate_proj').forward(x)), layer('up_proj').forward(x));
      return layer('down_proj').forward(gated);
    });
  }
}

export class LlamaDecoderLayer extends Module implements DecoderBlock {
  constructor(
    config: LlamaConfig,
    readonly layerIndex: number,
  ) {
    super();
    this.addModule('self_attn', new LlamaAttention(config, layerIndex));
    this.addModule('mlp', new LlamaMLP(config));
    this.addModule('input_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.addModule('post_attention_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const attention = this.getModule('self_attn') as LlamaAttention;
      const mlp = this.getModule('mlp') as LlamaMLP;
      const inputNorm = this.getModule('input_layernorm') as RMSNorm;
      const postNorm = this.getModule('post_attention_layernorm') as RMSNorm;
      const h = add(hidden, attention.forward(inputNorm.forward(hidden), context));
      return add(h, mlp.forward(postNorm.forward(h)));
    });
  }
}

/** LlamaModel: embed_tokens, layers, norm. */
class LlamaModel extends Module {
  constructor(config: LlamaConfig) {
    super();
    this.addModule('embed_tokens', new Embedding(config.vocabSize, config.hiddenSize));
    this.addModule(
      'layers',
      ModuleList.of(config.numLayers, (i) => new LlamaDecoderLayer(config, i)),
    );
    this.addModule('norm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }
}

/** The true-sequential Linear groups of a llama block (GPTQ order). */
const LINEAR_GROUPS: readonly (readonly string[])[] = [
  ['self_attn.k_proj', 'self_attn.v_proj', 'self_attn.q_proj'],
  ['self_attn.o_proj'],
  ['mlp.up_proj', 'mlp.gate_proj'],
  ['mlp.down_proj'],
];

/** LlamaForCausalLM, which Mistral and Qwen2 checkpoints share (HF weight names throughout). */
export class LlamaForCausalLM extends CausalLM {
  override readonly baseModelPrefix = 'model';

  constructor(readonly config: LlamaConfig) {
    super();
    this.addModule('model', new LlamaModel(config));
    this.addModule('lm_head', new Linear(config.hiddenSize, config.vocabSize));
  }

  embed(inputIds: Tensor, _context: BlockContext): Tensor {
    return (this.getModule('model.embed_tokens') as Embedding).forward(inputIds, this.computeDType);
  }

  decoderBlocks(): DecoderBlockInfo[] {
    return this.blocksAt('model.layers', LINEAR_GROUPS);
  }

  head(hidden: Tensor): Tensor {
    return scope(() => {
      const norm = this.getModule('model.norm') as RMSNorm;
      return (this.getModule('lm_head') as LinearLayer).forward(norm.forward(hidden));
    });
  }

  override tiedParameters(): [string, string][] {
    return this.config.tieWordEmbeddings ? [['lm_head.weight', 'model.embed_tokens.weight']] : [];
  }

  protected override prepareContext(context: BlockContext): void {
    context.rotary = rotaryForContext(
      this.config.rope,
      this.config.headDim,
      context,
      this.computeDType,
    );
  }
}

/** The llama architecture entry (registered by architectures/index.ts). */
export const llama: Architecture = {
  modelTypes: ['llama', 'mistral', 'qwen2'],
  description: 'Llama (LlamaForCausalLM; also Mistral and Qwen2): RoPE, GQA, RMSNorm, SwiGLU',
  create: (config, file) => new LlamaForCausalLM(readLlamaConfig(config, file)),
};
