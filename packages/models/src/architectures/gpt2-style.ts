import { add, scope, type Tensor } from '@slimlm/core';
import type { ArchitectureConfig, BlockContext, DecoderBlock, DecoderBlockInfo } from '../model';
import { CausalLM } from '../model';
import { Embedding } from '../nn/embedding';
import { Linear, type LinearLayer } from '../nn/linear';
import { Module } from '../nn/module';
import { ModuleList } from '../nn/module-list';
import { LayerNorm } from '../nn/norms';

/** What the GPT-2 shell reads beyond ArchitectureConfig. */
interface GPT2StyleConfig extends ArchitectureConfig {
  layerNormEps: number;
}

/** The `transformer` module of GPT2Model and GPTNeoModel: wte, wpe, h, ln_f. */
class GPT2StyleModel<C extends GPT2StyleConfig> extends Module {
  constructor(config: C, makeBlock: (config: C, layerIndex: number) => DecoderBlock) {
    super();
    this.addModule('wte', new Embedding(config.vocabSize, config.hiddenSize));
    this.addModule('wpe', new Embedding(config.maxPositions, config.hiddenSize));
    this.addModule(
      'h',
      ModuleList.of(config.numLayers, (i) => makeBlock(config, i)),
    );
    this.addModule('ln_f', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }
}

/**
 * The causal-LM shell GPT-Neo copies from GPT-2 (HF weight names): learned positions added to the
 * token embeddings, blocks under transformer.h, ln_f, and lm_head tied to transformer.wte. The
 * architectures differ only in their blocks and those blocks' Linear groups.
 */
export abstract class GPT2StyleCausalLM<C extends GPT2StyleConfig> extends CausalLM {
  override readonly baseModelPrefix = 'transformer';

  constructor(
    readonly config: C,
    makeBlock: (config: C, layerIndex: number) => DecoderBlock,
    private readonly linearGroups: readonly (readonly string[])[],
  ) {
    super();
    this.addModule('transformer', new GPT2StyleModel(config, makeBlock));
    this.addModule('lm_head', new Linear(config.hiddenSize, config.vocabSize));
  }

  embed(inputIds: Tensor, context: BlockContext): Tensor {
    return scope(() => {
      const wte = this.getModule('transformer.wte') as Embedding;
      const wpe = this.getModule('transformer.wpe') as Embedding;
      return add(
        wte.forward(inputIds, this.computeDType),
        wpe.forward(context.positionIds, this.computeDType),
      );
    });
  }

  decoderBlocks(): DecoderBlockInfo[] {
    return this.blocksAt('transformer.h', this.linearGroups);
  }

  head(hidden: Tensor): Tensor {
    return scope(() => {
      const norm = this.getModule('transformer.ln_f') as LayerNorm;
      return (this.getModule('lm_head') as LinearLayer).forward(norm.forward(hidden));
    });
  }

  override tiedParameters(): [string, string][] {
    return this.config.tieWordEmbeddings ? [['lm_head.weight', 'transformer.wte.weight']] : [];
  }
}
