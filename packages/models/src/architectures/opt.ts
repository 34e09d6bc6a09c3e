import { add, scope, type Tensor, tensor } from '@slimlm/core';
import { architectureConfig, ConfigFields, STANDARD_FIELD_NAMES } from '../config';
import type { ArchitectureConfig, BlockContext, DecoderBlock, DecoderBlockInfo } from '../model';
import { CausalLM } from '../model';
import { Embedding } from '../nn/embedding';
import { Linear } from '../nn/linear';
import { Module } from '../nn/module';
import { ModuleList } from '../nn/module-list';
import { LayerNorm } from '../nn/norms';
import type { Architecture } from '../registry';
import { activate, activationName, causalSelfAttention, linearAt, splitHeads } from './gpt2';

/** OPT's learned position table starts at row 2 (a fairseq leftover). */
const POSITION_OFFSET = 2;
/** torch.nn.LayerNorm's default, which OPT does not configure. */
const LAYER_NORM_EPS = 1e-5;

/** What OPT needs beyond ArchitectureConfig, read once from config.json. */
export interface OPTConfig extends ArchitectureConfig {
  ffnDim: number;
  activation: string;
  /** Pre-LayerNorm blocks (true: most OPT sizes) or post-LayerNorm (false: OPT-350m). */
  doLayerNormBefore: boolean;
  /** model.decoder.final_layer_norm exists (pre-LN models unless _remove_final_layer_norm). */
  finalLayerNorm: boolean;
  /** Token embedding width; project_in/project_out map it to hiddenSize when it differs. */
  wordEmbedProjDim: number;
  enableBias: boolean;
}

/** Reads an opt config.json; errors name the file and field. */
export function readOPTConfig(json: Record<string, unknown>, file: string): OPTConfig {
  const fields = new ConfigFields(file, json);
  const base = architectureConfig(fields, STANDARD_FIELD_NAMES, { maxPositions: 2048 });
  if (!fields.boolean('layer_norm_elementwise_affine', true)) {
    throw fields.unsupported('layer_norm_elementwise_affine', false, 'true');
  }
  const doLayerNormBefore = fields.boolean('do_layer_norm_before', true);
  return {
    ...base,
    ffnDim: fields.integer('ffn_dim'),
    activation: activationName(fields, 'activation_function', 'relu'),
    doLayerNormBefore,
    finalLayerNorm: doLayerNormBefore && !fields.boolean('_remove_final_layer_norm', false),
    wordEmbedProjDim: fields.integer('word_embed_proj_dim', base.hiddenSize),
    enableBias: fields.boolean('enable_bias', true),
  };
}

/** OPTAttention: separate q/k/v/out projections; q scaled by headDim^-0.5. */
export class OPTAttention extends Module {
  constructor(
    readonly config: OPTConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize, enableBias } = config;
    for (const name of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) {
      this.addModule(name, new Linear(hiddenSize, hiddenSize, { bias: enableBias }));
    }
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { numHeads, headDim } = this.config;
      const heads = (name: string) =>
        splitHeads(linearAt(this, name).forward(hidden), numHeads, headDim);
      // transformers scales q (bias included) before q·k; scaling the scores is the same product.
      const merged = causalSelfAttention(
        heads('q_proj'),
        heads('k_proj'),
        heads('v_proj'),
        context,
        this.layerIndex,
        { scale: headDim ** -0.5 },
      );
      return linearAt(this, 'out_proj').forward(merged);
    });
  }
}

/** OPTDecoderLayer: attention then fc1 → act → fc2, LayerNorms before (pre-LN) or after each. */
export class OPTDecoderLayer extends Module implements DecoderBlock {
  constructor(
    readonly config: OPTConfig,
    readonly layerIndex: number,
  ) {
    super();
    const { hiddenSize, ffnDim, enableBias } = config;
    this.addModule('self_attn', new OPTAttention(config, layerIndex));
    this.addModule('self_attn_layer_norm', new LayerNorm(hiddenSize, LAYER_NORM_EPS));
    this.addModule('fc1', new Linear(hiddenSize, ffnDim, { bias: enableBias }));
    this.addModule('fc2', new Linear(ffnDim, hiddenSize, { bias: enableBias }));
    this.addModule('final_layer_norm', new LayerNorm(hiddenSize, LAYER_NORM_EPS));
  }

  forward(hidden: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const { doLayerNormBefore, activation } = this.config;
      const attention = this.getModule('self_attn') as OPTAttention;
      const attentionNorm = this.getModule('self_attn_layer_norm') as LayerNorm;
      const ffnNorm = this.getModule('final_layer_norm') as LayerNorm;
      const pre = (norm: LayerNorm, x: Tensor) => (doLayerNormBefore ? norm.forward(x) : x);
      const post = (norm: LayerNorm, x: Tensor) => (doLayerNormBefore ? x : norm.forward(x));
      const h = post(
        attentionNorm,
        add(hidden, attention.forward(pre(attentionNorm, hidden), context)),
      );
      const inner = activate(activation, linearAt(this, 'fc1').forward(pre(ffnNorm, h)));
      return post(ffnNorm, add(h, linearAt(this, 'fc2').forward(inner)));
    });
  }
}

/** OPTDecoder: embed_tokens, embed_positions, optional project_in/out and final_layer_norm, layers. */
class OPTDecoder extends Module {
  constructor(config: OPTConfig) {
    super();
    const { vocabSize, hiddenSize, wordEmbedProjDim, maxPositions, numLayers } = config;
    this.addModule('embed_tokens', new Embedding(vocabSize, wordEmbedProjDim));
    this.addModule('embed_positions', new Embedding(maxPositions + POSITION_OFFSET, hiddenSize));
    if (wordEmbedProjDim !== hiddenSize) {
      this.addModule('project_out', new Linear(hiddenSize, wordEmbedProjDim));
      this.addModule('project_in', new Linear(wordEmbedProjDim, hiddenSize));
    }
    if (config.finalLayerNorm) {
      this.addModule('final_layer_norm', new LayerNorm(hiddenSize, LAYER_NORM_EPS));
    }
    this.addModule(
      'layers',
      ModuleList.of(numLayers, (i) => new OPTDecoderLayer(config, i)),
    );
  }
}

/** OPTModel: the `model` level of the weight paths, holding the decoder. */
class OPTModel extends Module {
  constructor(config: OPTConfig) {
    super();
    this.addModule('decoder', new OPTDecoder(config));
  }
}

/** The true-sequential Linear groups of an OPT block (AutoGPTQ's inside_layer_modules). */
const LINEAR_GROUPS: readonly (readonly string[])[] = [
  ['self_attn.k_proj', 'self_attn.v_proj', 'self_attn.q_proj'],
  ['self_attn.out_proj'],
  ['fc1'],
  ['fc2'],
];

/** OPTForCausalLM (HF weight names; lm_head tied to model.decoder.embed_tokens). */
export class OPTForCausalLM extends CausalLM {
  override readonly baseModelPrefix = 'model';

  constructor(readonly config: OPTConfig) {
    super();
    this.addModule('model', new OPTModel(config));
    this.addModule('lm_head', new Linear(config.wordEmbedProjDim, config.vocabSize));
  }

  embed(inputIds: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const tokens = this.getModule('model.decoder.embed_tokens') as Embedding;
      const positions = this.getModule('model.decoder.embed_positions') as Embedding;
      let embedded = tokens.forward(inputIds, this.computeDType);
      if (this.config.wordEmbedProjDim !== this.config.hiddenSize) {
        embedded = linearAt(this, 'model.decoder.project_in').forward(embedded);
      }
      return add(embedded, positions.forward(positionRows(context), this.computeDType));
    });
  }

  decoderBlocks(): DecoderBlockInfo[] {
    return this.blocksAt('model.decoder.layers', LINEAR_GROUPS);
  }

  head(hidden: Tensor): Tensor {
    return scope(() => {
      let h = hidden;
      if (this.config.finalLayerNorm) {
        h = (this.getModule('model.decoder.final_layer_norm') as LayerNorm).forward(h);
      }
      if (this.config.wordEmbedProjDim !== this.config.hiddenSize) {
        h = linearAt(this, 'model.decoder.project_out').forward(h);
      }
      return linearAt(this, 'lm_head').forward(h);
    });
  }

  override tiedParameters(): [string, string][] {
    return this.config.tieWordEmbeddings
      ? [['lm_head.weight', 'model.decoder.embed_tokens.weight']]
      : [];
  }
}

/**
 * Rows of embed_positions for the new tokens, as OPTLearnedPositionalEmbedding computes them:
 * cumsum(mask) · mask - 1 + 2, so a real token's row is its position + 2 and a padded slot's is 1.
 */
function positionRows(context: BlockContext): Tensor {
  const [batch, length] = context.positionIds.shape as [number, number];
  const rows = Int32Array.from(context.positions, (p) => p + POSITION_OFFSET);
  const mask = context.paddingMask;
  if (mask) {
    const total = mask.shape[3]!;
    const additive = mask.dataSync();
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < length; t++) {
        if (additive[b * total + total - length + t] === Number.NEGATIVE_INFINITY) {
          rows[b * length + t] = POSITION_OFFSET - 1;
        }
      }
    }
  }
  return tensor(rows, {
    shape: [batch, length],
    dtype: 'i32',
    backend: context.positionIds.backend,
  });
}

/** The opt architecture entry (registered by architectures/index.ts). */
export const opt: Architecture = {
  modelTypes: ['opt'],
  description:
    'OPT (OPTForCausalLM): learned positions (offset 2), ReLU MLP, pre- or post-LayerNorm',
  create: (config, file) => new OPTForCausalLM(readOPTConfig(config, file)),
};
