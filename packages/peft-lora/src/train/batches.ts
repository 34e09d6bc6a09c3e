import { type Tensor, tensor } from '@slimlm/core';
import { invalidArgument } from './check';
import { deriveSeed, shuffledIndices } from './seeds';

/**
 * One training sequence, as @slimlm/datasets' tokenizeExample makes it: `labels` has one entry per
 * input id, -100 where no loss is taken (the prompt, padding). As in transformers' causal LMs the
 * labels are shifted inside the loss: the logits at position t are scored against labels[t + 1].
 */
export interface TrainingExample {
  readonly inputIds: readonly number[];
  readonly labels: readonly number[];
}

/** The label that contributes no loss (PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;

/** How many positions of `example` are scored: labels[1..] that are not IGNORE_INDEX. */
export function targetCount(example: TrainingExample): number {
  let count = 0;
  for (let t = 1; t < example.labels.length; t++) if (example.labels[t] !== IGNORE_INDEX) count++;
  return count;
}

/**
 * Checks every example against the vocabulary (`what` names the list in errors) and returns those
 * with at least one scored position; the rest (all labels masked, or a single token) are counted
 * as dropped, since they carry no gradient.
 */
export function usableExamples(
  examples: readonly TrainingExample[],
  vocabSize: number,
  what: string,
): { examples: TrainingExample[]; dropped: number } {
  const kept: TrainingExample[] = [];
  examples.forEach((example, i) => {
    const where = `${what} example ${i}`;
    const { inputIds, labels } = example ?? {};
    if (!Array.isArray(inputIds) || !Array.isArray(labels)) {
      throw invalidArgument(where, 'expected {inputIds: number[], labels: number[]}');
    }
    if (labels.length !== inputIds.length) {
      throw invalidArgument(
        where,
        `labels has ${labels.length} entries but inputIds has ${inputIds.length}; they must match`,
      );
    }
    inputIds.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw invalidArgument(
          where,
          `inputIds[${t}] = ${id} is not a token id of the model (0..${vocabSize - 1})`,
        );
      }
    });
    labels.forEach((label, t) => {
      if (label !== IGNORE_INDEX && (!Number.isInteger(label) || label < 0 || label >= vocabSize)) {
        throw invalidArgument(
          where,
          `labels[${t}] = ${label} is neither ${IGNORE_INDEX} nor a token id (0..${vocabSize - 1})`,
        );
      }
    });
    if (targetCount(example) > 0) kept.push(example);
  });
  return { examples: kept, dropped: examples.length - kept.length };
}

/** A padded batch, ready for the model and the loss. */
export interface CollatedBatch {
  /** [batch, T] i32, padded on the right. */
  inputIds: Tensor;
  /** [batch, T - 1] i32: labels[:, 1:], IGNORE_INDEX at padding. */
  targets: Tensor;
  /** [batch, T] i32, 1 for a real token and 0 for padding; absent when nothing is padded. */
  attentionMask?: Tensor;
  /** Real (unpadded) input tokens. */
  tokens: number;
  /** Scored positions (the loss's denominator contribution). */
  targetTokens: number;
}

/**
 * Pads `examples` on the right to the longest one, with `padId` as input (any valid id: padded
 * positions are masked from attention and from the loss) and IGNORE_INDEX as label. The tensors
 * are made in the caller's scope.
 */
export function collate(examples: readonly TrainingExample[], padId: number): CollatedBatch {
  const batch = examples.length;
  const length = Math.max(...examples.map((e) => e.inputIds.length));
  const ids = new Int32Array(batch * length).fill(padId);
  const targets = new Int32Array(batch * (length - 1)).fill(IGNORE_INDEX);
  const mask = new Int32Array(batch * length);
  let tokens = 0;
  let targetTokens = 0;
  examples.forEach((example, b) => {
    const n = example.inputIds.length;
    ids.set(example.inputIds, b * length);
    mask.fill(1, b * length, b * length + n);
    targets.set(example.labels.slice(1), b * (length - 1));
    tokens += n;
    targetTokens += targetCount(example);
  });
  const padded = tokens < batch * length;
  return {
    inputIds: tensor(ids, { shape: [batch, length], dtype: 'i32' }),
    targets: tensor(targets, { shape: [batch, length - 1], dtype: 'i32' }),
    ...(padded ? { attentionMask: tensor(mask, { shape: [batch, length], dtype: 'i32' }) } : {}),
    tokens,
    targetTokens,
  };
}

/** `count` items in micro-batches of `batchSize`, in order (the last one may be short). */
export function inOrderBatches(count: number, batchSize: number): number[][] {
  const batches: number[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    batches.push(Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i));
  }
  return batches;
}

/**
 * Which examples every optimizer step sees. Each epoch is a seeded shuffle of the examples, cut
 * into micro-batches of `batchSize` (the last may be short, as a DataLoader without drop_last);
 * a step takes `accumulation` consecutive micro-batches, and the last step of an epoch takes what
 * is left. Steps past the last epoch start new epochs. Everything is a function of the seed and
 * the step, so a resumed run needs only the step number.
 */
export class BatchPlan {
  readonly microBatchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  private cachedEpoch = -1;
  private cachedBatches: number[][] = [];

  constructor(
    readonly exampleCount: number,
    readonly batchSize: number,
    readonly accumulation: number,
    readonly seed: number,
  ) {
    this.microBatchesPerEpoch = Math.ceil(exampleCount / batchSize);
    this.stepsPerEpoch = Math.ceil(this.microBatchesPerEpoch / accumulation);
  }

  /** The epoch (0-based) optimizer step `step` falls in. */
  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  /** The micro-batches (lists of example indices) of optimizer step `step` (0-based). */
  step(step: number): number[][] {
    const epoch = this.epochOf(step);
    if (epoch !== this.cachedEpoch) {
      const order = shuffledIndices(this.exampleCount, deriveSeed(this.seed, epoch));
      this.cachedBatches = inOrderBatches(this.exampleCount, this.batchSize).map((batch) =>
        batch.map((i) => order[i]!),
      );
      this.cachedEpoch = epoch;
    }
    const first = (step - epoch * this.stepsPerEpoch) * this.accumulation;
    return this.cachedBatches.slice(first, first + this.accumulation);
  }
}
