import {
  add,
  applyRotary,
  narrow,
  permute,
  reshape,
  rotaryTables,
  SlimlmError,
  scope,
  type Tensor,
} from '@slimlm/core';
import { architectureConfig, ConfigFields, STANDARD_FIELD_NAMES } from '../config';
import type { ArchitectureConfig, BlockContext, DecoderBlock, DecoderBlockInfo } from '../model';
import { CausalLM } from '../model';
import { Embedding } from '../nn/embedding';
import { Linear } from '../nn/linear';
import { Module } from '../nn/module';
import { ModuleList } from '../nn/module-list';
import { LayerNorm } from '../nn/norms';
import type { Architecture } from '../registry';
import { activate, activationName, causalSelfAttention, linearAt } from './gpt2';

/** What GPT-NeoX needs beyond ArchitectureConfig, read once from config.json. */
export interface GPTNeoXConfig extends ArchitectureConfig {
  intermediateSize: number;
  activation: string;
  layerNormEps: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) when true; the usual sequential residuals when false. */
  useParallelResidual: boolean;
  attentionBias: boolean;
  /** Leading channels of each head that rotate: int(headDim · rotary_pct). */
  rotaryDim: number;
  rotaryBase: number;
}

/** Reads a gpt_neox config.json; errors name the file and field. */
export function readGPTNeoXConfig(json: Record<string, unknown>, file: string): GPTNeoXConfig {
  const fields = new ConfigFields(file, json);
  const base = architectureConfig(fields, STANDARD_FIELD_NAMES, {
    tieWordEmbeddings: false,
    maxPositions: 2048,
  });
  // Newer transformers saves rotary_pct and rotary_emb_base also as partial_rotary_factor and
  // rope_theta (and nests them in rope_parameters); the older names win, as GPTNeoXConfig says.
  const rope = fields.object('rope_parameters');
  const pctField = ['rotary_pct', 'partial_rotary_factor'].find((f) => fields.has(f));
  const rotaryPct = pctField
    ? fields.number(pctField)
    : (rope?.number('partial_rotary_factor', 0.25) ?? 0.25);
  const baseField = ['rotary_emb_base', 'rope_theta'].find((f) => fields.has(f));
  const rotaryBase = baseField
    ? fields.number(baseField)
    : (rope?.number('rope_theta', 10000) ?? 10000);
  const rotaryDim = Math.trunc(base.headDim * rotaryPct);
  if (!(rotaryPct >= 0 && rotaryPct <= 1) || rotaryDim % 2 !== 0) {
    throw fields.invalid(
      pctField ?? 'rope_parameters.partial_rotary_factor',
      `a fraction in [0, 1] giving an even number of rotary channels of head dim ${base.headDim}`,
      rotaryPct,
    );
  }
  for (const scaling of [fields.object('rope_scaling'), rope]) {
    const typeField = scaling?.has('rope_type') ? 'rope_type' : 'type';
    const type = scaling?.has(typeField) ? scaling.string(typeField) : 'default';
    if (scaling && type !== 'default') throw scaling.unsupported(typeField, type, "'default'");
  }
  return {
    ...base,
    intermediateSize: fields.integer('intermediate_size'),
    activation: activationName(fields, 'hidden_act', 'gelu'),
    layerNormEps: fields.number('layer_norm_eps', 1e-5),
    useParallelResidual: fields.boolean('use_parallel_residual', true),
    attentionBias: fields.boolean('attention_bias', true),
    rotaryDim,
    rotaryBase,
  };
}

/** GPTNeoXAttention: fused query_key_value laid out per head as [q | k | v], partial rotary. */
export class GPTNeoXAttention extends Module {
  constructor(
    readonly config: GPTNeoXConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize, attentionBias } = config;
    this.addModule(
      'query_key_value',
      new Linear(hiddenSize, 3 * hiddenSize, { bias: attentionBias }),
    );
    this.addModule('dense', new Linear(hiddenSize, hiddenSize, { bias: attentionBias }));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { numHeads, headDim, rotaryDim } = this.config;
      const [batch, length] = hidden.shape as [number, number, number];
      const fused = reshape(linearAt(this, 'query_key_value').forward(hidden), [
        batch,
        length,
        numHeads,
        3 * headDim,
      ]);
      let [q, k, v] = [0, 1, 2].map((i) =>
        permute(narrow(fused, 3, i * headDim, headDim), [0, 2, 1, 3]),
      ) as [Tensor, Tensor, Tensor];
      if (rotaryDim > 0) {
        if (!context.rotary) {
          throw new SlimlmError(
            'INVALID_ARGUMENT',
            'GPTNeoXAttention: the context has no rotary tables (build it with model.buildContext)',
          );
        }
        const { cos, sin } = context.rotary;
        q = applyRotary(q, cos, sin, { rotaryDim });
        k = applyRotary(k, cos, sin, { rotaryDim });
      }
      const merged = causalSelfAttention(q, k, v, context, this.layerIndex, {
        scale: 1 / Math.sqrt(headDim),
      });
      return linearAt(this, 'dense').forward(merged);
    });
  }
}

/** GPTNeoXMLP: dense_4h_to_h(act(dense_h_to_4h(x))). */
class GPTNeoXMLP extends Module {
  constructor(readonly config: GPTNeoXConfig) {
    super();
    const { hiddenSize, intermediateSize } = config;
    this.addModule('dense_h_to_4h', new Linear(hiddenSize, intermediateSize, { bias: true }));
    this.addModule('dense_4h_to_h', new Linear(intermediateSize, hiddenSize, { bias: true }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const inner = activate(this.config.activation, linearAt(this, 'dense_h_to_4h').forward(x));
      return linearAt(this, 'dense_4h_to_h').forward(inner);
    });
  }
}

/** GPTNeoXLayer: parallel (Pythia) or sequential residuals. */
export class GPTNeoXLayer extends Module implements DecoderBlock {
  constructor(
    readonly config: GPTNeoXConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize, layerNormEps } = config;
    this.addModule('input_layernorm', new LayerNorm(hiddenSize, layerNormEps));
    this.addModule('post_attention_layernorm', new LayerNorm(hiddenSize, layerNormEps));
    this.addModule('attention', new GPTNeoXAttention(config, layerIndex));
    this.addModule('mlp', new GPTNeoXMLP(config));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const inputNorm = this.getModule('input_layernorm') as LayerNorm;
      const postNorm = this.getModule('post_attention_layernorm') as LayerNorm;
      const attention = this.getModule('attention') as GPTNeoXAttention;
      const mlp = this.getModule('mlp') as GPTNeoXMLP;
      const attended = attention.forward(inputNorm.forward(hidden), context);
      if (this.config.useParallelResidual) {
        return add(add(mlp.forward(postNorm.forward(hidden)), attended), hidden);
      }
      const h = add(attended, hidden);
      return add(mlp.forward(postNorm.forward(h)), h);
    });
  }
}

/** GPTNeoXModel: embed_in, layers, final_layer_norm. */
class GPTNeoXModel extends Module {
  constructor(config: GPTNeoXConfig) {
    super();
    this.addModule('embed_in', new Embedding(config.vocabSize, config.hiddenSize));
    this.addModule(
      'layers',
      ModuleList.of(config.numLayers, (i) => new GPTNeoXLayer(config, i)),
    );
    this.addModule('final_layer_norm', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }
}

/** The true-sequential Linear groups of a GPT-NeoX block (AutoGPTQ's inside_layer_modules). */
const LINEAR_GROUPS: readonly (readonly string[])[] = [
  ['attention.query_key_value'],
  ['attention.dense'],
  ['mlp.dense_h_to_4h'],
  ['mlp.dense_4h_to_h'],
];

/** GPTNeoXForCausalLM (Pythia; HF weight names, untied embed_out by default). */
export class GPTNeoXForCausalLM extends CausalLM {
  override readonly baseModelPrefix = 'gpt_neox';

  constructor(readonly config: GPTNeoXConfig) {
    super();
    this.addModule('gpt_neox', new GPTNeoXModel(config));
    this.addModule('embed_out', new Linear(config.hiddenSize, config.vocabSize));
  }

  embed(inputIds: Tensor, _context: BlockContext): Tensor {
    const embedIn = this.getModule('gpt_neox.embed_in') as Embedding;
    return embedIn.forward(inputIds, this.computeDType);
  }

  decoderBlocks(): DecoderBlockInfo[] {
    return this.blocksAt('gpt_neox.layers', LINEAR_GROUPS);
  }

  head(hidden: Tensor): Tensor {
    return scope(() => {
      const norm = this.getModule('gpt_neox.final_layer_norm') as LayerNorm;
      return linearAt(this, 'embed_out').forward(norm.forward(hidden));
    });
  }

  override tiedParameters(): [string, string][] {
    return this.config.tieWordEmbeddings ? [['embed_out.weight', 'gpt_neox.embed_in.weight']] : [];
  }

  protected override prepareContext(context: BlockContext): void {
    const { rotaryDim, rotaryBase } = this.config;
    if (rotaryDim === 0) return;
    const [batch, length] = context.positionIds.shape as [number, number];
    const tables = rotaryTables(context.positionIds, rotaryDim, {
      base: rotaryBase,
      dtype: this.computeDType,
      backend: context.positionIds.backend,
    });
    const shape = [batch, 1, length, rotaryDim];
    context.rotary = { cos: reshape(tables.cos, shape), sin: reshape(tables.sin, shape) };
  }
}

/** The gpt-neox architecture entry (registered by architectures/index.ts). */
export const gptNeox: Architecture = {
  modelTypes: ['gpt_neox'],
  description:
    'GPT-NeoX (GPTNeoXForCausalLM; Pythia): fused per-head qkv, partial RoPE, parallel residual',
  create: (config, file) => new GPTNeoXForCausalLM(readGPTNeoXConfig(config, file)),
};
