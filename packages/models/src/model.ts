import { type DType, KVCache, SlimlmError, scope, type Tensor, tensor } from '@slimlm/core';
import type { LinearLayer } from './nn/linear';
import { Module } from './nn/module';
import type { ModuleList } from './nn/module-list';

/** The shape facts every architecture reports, in one vocabulary (HF names differ per model). */
export interface ArchitectureConfig {
  /** config.json `model_type` as given (e.g. 'mistral' for a Mistral checkpoint served by llama). */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  /** The dtype the checkpoint says it stores (config.json `torch_dtype`), if it says. */
  storageDType?: DType;
  /** The whole config.json, for what only one architecture reads. */
  raw: Record<string, unknown>;
}

/** What one decoder block needs beyond its hidden states. */
export interface BlockContext {
  /** [batch, T] i32 positions of the new tokens (after left padding is accounted for). */
  positionIds: Tensor;
  /** Host copy of positionIds, row-major, for architectures that build tables on the host. */
  positions: Int32Array;
  /**
   * Additive mask [batch, 1, 1, past + T] in the compute dtype (0 to attend, -Infinity for a
   * padded key), combined with causal masking by the attention itself; absent without padding.
   */
  paddingMask?: Tensor;
  /** Cache of past keys/values; blocks append their new ones at `layerIndex`. */
  cache?: KVCache;
  /** Rotary tables for positionIds ([batch, 1, T, rotaryDim]), when the architecture uses RoPE. */
  rotary?: { cos: Tensor; sin: Tensor };
}

/** A decoder block: hidden [batch, T, hidden] → hidden, reading and extending the cache. */
export interface DecoderBlock extends Module {
  readonly layerIndex: number;
  forward(hidden: Tensor, context: BlockContext): Tensor;
}

/** A decoder block as quantization and adapters see it. */
export interface DecoderBlockInfo {
  /** Dotted path of the block, e.g. 'model.layers.3'. */
  path: string;
  block: DecoderBlock;
  /**
   * The Linear layers inside the block, as paths relative to it, in true-sequential order: each
   * group's inputs depend only on earlier groups (Llama: [k,v,q], [o], [up,gate], [down]).
   */
  linearGroups: string[][];
}

export interface ForwardOptions {
  /** Past keys/values; the new ones are appended. Create with `model.createCache(batch)`. */
  cache?: KVCache;
  /**
   * [batch, past + T] i32 (or u8), 1 for a real token and 0 for padding, as HF's attention_mask.
   * Padding goes on the left for generation. Default: every token is real.
   */
  attentionMask?: Tensor;
}

/**
 * A Hugging Face causal language model: token ids → next-token logits. Architectures implement
 * `embed`, `decoderBlocks` and `head`; the shared `forward` derives positions and padding masks
 * (exactly as transformers' generate does) and runs the blocks in order.
 */
export abstract class CausalLM extends Module {
  /** The dtype activations are computed in (weights may be stored narrower). Default f32. */
  computeDType: DType = 'f32';

  abstract readonly config: ArchitectureConfig;

  /**
   * transformers' `base_model_prefix` ('transformer' for GPT-2, 'model' for OPT): checkpoints
   * saved from the base model name their tensors without it (the original GPT-2 and OPT files
   * hold `h.0.attn.c_attn.weight`, `decoder.layers.0.fc1.weight`), and loading accepts both.
   */
  readonly baseModelPrefix?: string;

  /** ids [batch, T] i32 → hidden [batch, T, hidden] (token and, where learned, position embeddings). */
  abstract embed(inputIds: Tensor, context: BlockContext): Tensor;

  /** The blocks in order, with their paths and Linear groups. */
  abstract decoderBlocks(): DecoderBlockInfo[];

  /** hidden [batch, T, hidden] → logits [batch, T, vocab] (final norm and LM head). */
  abstract head(hidden: Tensor): Tensor;

  /**
   * Pairs [target, source] of parameter paths that share storage (tied embeddings): loading
   * fills the target from the source's checkpoint tensor when the target itself is absent.
   */
  tiedParameters(): [string, string][] {
    return [];
  }

  /**
   * The blocks of the ModuleList at `listPath`, each with its own copy of `linearGroups` (the
   * block's Linear groups, as DecoderBlockInfo describes them): `decoderBlocks` for most models.
   */
  protected blocksAt(
    listPath: string,
    linearGroups: readonly (readonly string[])[],
  ): DecoderBlockInfo[] {
    const blocks = this.getModule(listPath) as ModuleList<DecoderBlock>;
    return [...blocks].map((block, i) => ({
      path: `${listPath}.${i}`,
      block,
      linearGroups: linearGroups.map((group) => [...group]),
    }));
  }

  /** Adds what the blocks share (rotary tables, for example) to the context; default nothing. */
  protected prepareContext(_context: BlockContext): void {}

  /** Every Linear-like layer of the model by path (blocks and head), for quantization and LoRA. */
  linearLayers(): [string, LinearLayer][] {
    const found: [string, LinearLayer][] = [];
    for (const [path, module] of this.namedModules()) {
      if (isLinearLayer(module)) found.push([path, module]);
    }
    return found;
  }

  /** A KV cache sized for this model. */
  createCache(batch: number, capacity = 256): KVCache {
    const { numLayers, numKvHeads, headDim } = this.config;
    return new KVCache({
      layers: numLayers,
      batch,
      kvHeads: numKvHeads,
      headDim,
      capacity,
      dtype: this.computeDType,
    });
  }

  /** ids [batch, T] i32 → logits [batch, T, vocab] in the compute dtype. */
  forward(inputIds: Tensor, options: ForwardOptions = {}): Tensor {
    if (inputIds.rank !== 2 || inputIds.dtype !== 'i32') {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `${this.config.modelType}.forward: inputIds must be an i32 tensor [batch, seq], got ${inputIds.dtype} [${inputIds.shape.join(', ')}]`,
      );
    }
    return scope(() => {
      const context = this.buildContext(inputIds, options);
      let hidden = this.embed(inputIds, context);
      for (const { block } of this.decoderBlocks()) {
        hidden = block.forward(hidden, context);
      }
      return this.head(hidden);
    });
  }

  /** The context `forward` passes to every block; public so that GPTQ can run blocks one by one. */
  buildContext(inputIds: Tensor, options: ForwardOptions = {}): BlockContext {
    const [batch, length] = inputIds.shape as [number, number];
    const past = options.cache?.length(0) ?? 0;
    const positions = new Int32Array(batch * length);
    let paddingMask: Tensor | undefined;
    if (options.attentionMask) {
      const mask = options.attentionMask;
      const total = past + length;
      if (mask.rank !== 2 || mask.shape[0] !== batch || mask.shape[1] !== total) {
        throw new SlimlmError(
          'SHAPE_MISMATCH',
          `${this.config.modelType}.forward: attentionMask must be [batch ${batch}, past ${past} + new ${length}], got [${mask.shape.join(', ')}]`,
        );
      }
      const keep = mask.dataSync();
      const additive = new Float32Array(batch * total);
      let padded = false;
      for (let b = 0; b < batch; b++) {
        // HF generate: position_ids = cumsum(mask) - 1, with padded slots set to 1.
        let seen = 0;
        for (let t = 0; t < total; t++) {
          const real = keep[b * total + t] !== 0;
          if (real) seen++;
          else {
            padded = true;
            additive[b * total + t] = Number.NEGATIVE_INFINITY;
          }
          if (t >= past) positions[b * length + (t - past)] = real ? seen - 1 : 1;
        }
      }
      if (padded) {
        paddingMask = tensor(additive, { shape: [batch, 1, 1, total], dtype: this.computeDType });
      }
    } else {
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < length; t++) positions[b * length + t] = past + t;
      }
    }
    const context: BlockContext = {
      positionIds: tensor(positions, { shape: [batch, length], dtype: 'i32' }),
      positions,
      ...(paddingMask ? { paddingMask } : {}),
      ...(options.cache ? { cache: options.cache } : {}),
    };
    this.prepareContext(context);
    return context;
  }
}

function isLinearLayer(module: Module): module is LinearLayer {
  const candidate = module as Module &
    Partial<Pick<LinearLayer, 'inFeatures' | 'outFeatures' | 'forward'>>;
  return (
    typeof candidate.inFeatures === 'number' &&
    typeof candidate.outFeatures === 'number' &&
    typeof candidate.forward === 'function'
  );
}
