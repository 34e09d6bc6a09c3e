import { crossEntropy, narrow, noGrad, scope, type Tensor } from '@slimlm/core';
import type { CausalLM } from '@slimlm/models';
import {
  type CollatedBatch,
  collate,
  inOrderBatches,
  type TrainingExample,
  targetCount,
  usableExamples,
} from './batches';
import { checkInteger, invalidArgument } from './check';

/**
 * The summed cross-entropy of a batch: logits[:, :-1] scored against labels[:, 1:] (transformers'
 * causal LM shift), padded and IGNORE_INDEX positions excluded. A 0-d tensor in the compute dtype;
 * divide by `batch.targetTokens` (or a larger step total) for a mean.
 */
export function summedLoss(model: CausalLM, batch: CollatedBatch): Tensor {
  return scope(() => {
    const logits = model.forward(
      batch.inputIds,
      batch.attentionMask ? { attentionMask: batch.attentionMask } : {},
    );
    const length = batch.inputIds.shape[1]!;
    return crossEntropy(narrow(logits, 1, 0, length - 1), batch.targets, { reduction: 'sum' });
  });
}

/** The id used for right padding: the model's pad token, else its EOS, else 0 (always masked). */
export function paddingId(model: CausalLM): number {
  return model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0;
}

export interface EvaluateLossOptions {
  /** Examples per forward pass (default 8); memory grows with batch · length · vocab. */
  batchSize?: number;
  /** Called with examples scored so far after each batch. */
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluateLossResult {
  /** Mean cross-entropy per scored token over the whole set (each token weighs the same). */
  loss: number;
  /** Scored tokens. */
  tokens: number;
  /** Examples with no scored position, left out. */
  dropped: number;
}

/**
 * The mean next-token loss of `model` on `examples`, without gradients and in evaluation mode
 * (dropout off; the previous mode is restored).
 */
export async function evaluateLoss(
  model: CausalLM,
  examples: readonly TrainingExample[],
  options: EvaluateLossOptions = {},
): Promise<EvaluateLossResult> {
  const batchSize = checkInteger('evaluateLoss', 'batchSize', options.batchSize ?? 8, 1);
  const usable = usableExamples(examples, model.config.vocabSize, 'evaluation');
  if (usable.examples.length === 0) {
    throw invalidArgument(
      'evaluateLoss',
      `none of the ${examples.length} examples has a scored label`,
    );
  }
  const wasTraining = model.training;
  model.eval();
  let sum = 0;
  let tokens = 0;
  let done = 0;
  try {
    for (const indices of inOrderBatches(usable.examples.length, batchSize)) {
      const batch = indices.map((i) => usable.examples[i]!);
      const loss = noGrad(() => scope(() => summedLoss(model, collate(batch, paddingId(model)))));
      try {
        sum += (await loss.data())[0]!;
      } finally {
        loss.dispose();
      }
      tokens += batch.reduce((n, e) => n + targetCount(e), 0);
      done += batch.length;
      options.onProgress?.(done, usable.examples.length);
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: sum / tokens, tokens, dropped: usable.dropped };
}
