import { checkInteger, checkNumber, invalidArgument } from './check';
import type { LossScalerOptions } from './loss-scaler';
import { checkLrSchedulerType, type LrSchedulerType } from './schedules';

/** What the trainer reports after each optimizer step and each evaluation. */
export type TrainProgress =
  | {
      kind: 'step';
      /** Optimizer steps done (1 after the first). */
      step: number;
      totalSteps: number;
      /** Epochs done, fractional. */
      epoch: number;
      /** Mean loss per scored token of this step's examples. */
      loss: number;
      /** The learning rate this step used. */
      lr: number;
      /** Global gradient norm before clipping. */
      gradNorm: number;
      /** Real input tokens per second of training so far in this run (evaluations excluded). */
      tokensPerSecond: number;
      /** True when the gradients overflowed and the update was skipped (f16 loss scaling). */
      skipped: boolean;
    }
  | {
      kind: 'evaluation';
      step: number;
      totalSteps: number;
      /** Mean loss per scored token of the validation set. */
      valLoss: number;
      /** True when this is the best validation loss so far. */
      best: boolean;
    };

export interface TrainerOptions {
  /** Passes over the training set (default 1); ignored when `maxSteps` is given. */
  epochs?: number;
  /** Optimizer steps to take in all (default: epochs × steps per epoch). */
  maxSteps?: number;
  /** Examples per micro-batch, padded on the right to the longest (default 1). */
  batchSize?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /** Peak learning rate (default 5e-5, as transformers). */
  learningRate?: number;
  /** AdamW's decoupled weight decay (default 0), applied to parameters of rank >= 2 only: biases and norm weights do not decay, as in transformers. */
  weightDecay?: number;
  /** Default [0.9, 0.999]. */
  adamBetas?: readonly [number, number];
  /** Default 1e-8. */
  adamEpsilon?: number;
  /** Default 'linear'. */
  lrScheduler?: LrSchedulerType;
  /** Default 0. */
  warmupSteps?: number;
  /** Clip the global gradient norm to this (default 1, as transformers); Infinity turns clipping off. */
  maxGradNorm?: number;
  /** Seeds the shuffling of every epoch and the dropout of every micro-batch (default 42). */
  seed?: number;
  /** Evaluate on the validation set every this many steps, and after the last (default once per epoch). */
  evalSteps?: number;
  /** Examples per evaluation forward pass (default `batchSize`). */
  evalBatchSize?: number;
  /** Stop after this many evaluations in a row without improvement (default: never). */
  earlyStoppingPatience?: number;
  /** An evaluation improves when it beats the best by more than this (default 0). */
  earlyStoppingThreshold?: number;
  /** Put the best-evaluated parameters back into the model at the end (default true). */
  restoreBest?: boolean;
  /** Folder for resumable checkpoints (`checkpoint-<step>/`; only the newest is kept). */
  checkpointDir?: string;
  /** Save a checkpoint every this many steps and after the last (default: as evalSteps). */
  saveSteps?: number;
  /** Continue from the newest checkpoint in `checkpointDir`, if there is one. */
  resume?: boolean;
  /**
   * 'dynamic' scales the loss as torch's GradScaler (the default when a trainable parameter is
   * stored in f16), a number scales it statically, 1 (the default otherwise) not at all.
   */
  lossScale?: 'dynamic' | number;
  /** Settings of the dynamic loss scale. */
  lossScaler?: LossScalerOptions;
  onProgress?: (progress: TrainProgress) => void;
}

/** The options that get a default. */
type Defaulted =
  | 'epochs'
  | 'batchSize'
  | 'gradientAccumulationSteps'
  | 'learningRate'
  | 'weightDecay'
  | 'adamBetas'
  | 'adamEpsilon'
  | 'lrScheduler'
  | 'warmupSteps'
  | 'maxGradNorm'
  | 'seed'
  | 'evalBatchSize'
  | 'earlyStoppingThreshold'
  | 'restoreBest'
  | 'resume'
  | 'lossScaler';

/** The options checked, with their defaults filled in. */
export type ResolvedOptions = Omit<TrainerOptions, Defaulted> &
  Required<Pick<TrainerOptions, Defaulted>>;

const WHERE = 'Trainer';

function optionalInteger(name: string, value: number | undefined, min: number): number | undefined {
  return value === undefined ? undefined : checkInteger(WHERE, name, value, min);
}

/** Checks every option, naming the bad one, and fills in defaults. */
export function resolveOptions(options: TrainerOptions): ResolvedOptions {
  const batchSize = checkInteger(WHERE, 'batchSize', options.batchSize ?? 1, 1);
  const lrScheduler = options.lrScheduler ?? 'linear';
  checkLrSchedulerType(lrScheduler, WHERE);
  const [beta1, beta2] = options.adamBetas ?? [0.9, 0.999];
  const lossScale = options.lossScale;
  if (
    lossScale !== undefined &&
    lossScale !== 'dynamic' &&
    !(typeof lossScale === 'number' && lossScale > 0 && Number.isFinite(lossScale))
  ) {
    throw invalidArgument(
      WHERE,
      `lossScale must be 'dynamic' or a positive number, got ${lossScale}`,
    );
  }
  if (options.resume && options.checkpointDir === undefined) {
    throw invalidArgument(WHERE, 'resume needs checkpointDir, the folder to resume from');
  }
  return {
    epochs: checkNumber(WHERE, 'epochs', options.epochs ?? 1, Number.MIN_VALUE),
    maxSteps: optionalInteger('maxSteps', options.maxSteps, 1),
    batchSize,
    gradientAccumulationSteps: checkInteger(
      WHERE,
      'gradientAccumulationSteps',
      options.gradientAccumulationSteps ?? 1,
      1,
    ),
    learningRate: checkNumber(WHERE, 'learningRate', options.learningRate ?? 5e-5, 0),
    weightDecay: checkNumber(WHERE, 'weightDecay', options.weightDecay ?? 0, 0),
    adamBetas: [beta1, beta2],
    adamEpsilon: checkNumber(WHERE, 'adamEpsilon', options.adamEpsilon ?? 1e-8, 0),
    lrScheduler,
    warmupSteps: checkInteger(WHERE, 'warmupSteps', options.warmupSteps ?? 0, 0),
    maxGradNorm: checkNumber(WHERE, 'maxGradNorm', options.maxGradNorm ?? 1, Number.MIN_VALUE),
    seed: checkInteger(WHERE, 'seed', options.seed ?? 42, 0),
    evalSteps: optionalInteger('evalSteps', options.evalSteps, 1),
    evalBatchSize: checkInteger(WHERE, 'evalBatchSize', options.evalBatchSize ?? batchSize, 1),
    earlyStoppingPatience: optionalInteger(
      'earlyStoppingPatience',
      options.earlyStoppingPatience,
      1,
    ),
    earlyStoppingThreshold: checkNumber(
      WHERE,
      'earlyStoppingThreshold',
      options.earlyStoppingThreshold ?? 0,
      0,
    ),
    restoreBest: options.restoreBest ?? true,
    checkpointDir: options.checkpointDir,
    saveSteps: optionalInteger('saveSteps', options.saveSteps, 1),
    resume: options.resume ?? false,
    lossScale,
    lossScaler: options.lossScaler ?? {},
    onProgress: options.onProgress,
  };
}
