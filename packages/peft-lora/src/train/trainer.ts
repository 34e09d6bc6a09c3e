import { backward, full, manualSeed, scope, type Tensor } from '@slimlm/core';
import type { CausalLM } from '@slimlm/models';
import { AdamW } from './adamw';
import { BatchPlan, collate, type TrainingExample, targetCount, usableExamples } from './batches';
import { evaluateLoss, paddingId, summedLoss } from './causal-lm-loss';
import { invalidArgument } from './check';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { clipGradNorm, scaleGradients } from './clip-grad-norm';
import { DynamicLossScaler } from './loss-scaler';
import { type ResolvedOptions, resolveOptions, type TrainerOptions } from './options';
import { learningRateFactor } from './schedules';
import { deriveSeed } from './seeds';
import { type ParameterSet, TrainableParameters } from './trainable-parameters';
import {
  checkResumable,
  type EvaluationRecord,
  hashExamples,
  type RunFingerprint,
  type StepRecord,
  type TrainerState,
} from './trainer-state';

/** The data of a run: training examples and, optionally, a validation set. */
export interface TrainData {
  train: readonly TrainingExample[];
  validation?: readonly TrainingExample[];
}

export interface TrainResult {
  /** Optimizer steps done in all (a resumed run counts the steps before the interruption). */
  steps: number;
  totalSteps: number;
  /** Epochs done, fractional. */
  epochs: number;
  /** Every step (of resumed runs too). */
  history: StepRecord[];
  /** Every evaluation; the first, at step 0, is before training. */
  evaluations: EvaluationRecord[];
  /** The best evaluation, whose parameters the model holds at the end when restoreBest. */
  best?: EvaluationRecord;
  /** Validation loss before training and of the parameters the model holds at the end. */
  valLossBefore?: number;
  valLossAfter?: number;
  stoppedEarly: boolean;
  /** Steps skipped because their gradients were not finite. */
  skippedSteps: number;
  /** The step this run resumed from, when it did. */
  resumedFrom?: number;
  /** Real input tokens trained on by this call, and their rate (evaluation time excluded). */
  trainTokens: number;
  tokensPerSecond: number;
  /** Examples left out because no position of theirs is scored. */
  droppedExamples: { train: number; validation: number };
  /** The newest checkpoint folder, when checkpointDir is set. */
  checkpoint?: string;
}

// Seed streams, so that dropout draws never collide with shuffling draws of the same step.
const DROPOUT_STREAM = 1;

/**
 * Trains the given parameters of any CausalLM on next-token prediction: AdamW with warmup and a
 * linear, cosine or constant schedule, gradient accumulation, clipping by global norm, mixed
 * storage (f16/bf16 model weights with f32 master copies, dynamic loss scaling for f16), seeded
 * shuffling, evaluation with best-parameter keeping and early stopping, and atomic checkpoints a
 * run resumes from exactly.
 *
 * The loss of a step is the summed cross-entropy over every scored token of all its micro-batches
 * divided by the number of those tokens (transformers' `num_items_in_batch` normalisation), so
 * accumulating 2 micro-batches of 1 example gives the gradient of 1 batch of 2.
 *
 * The parameters are updated in place (whatever holds them, a model or LoRA layers, sees the new
 * values); they require gradients during `train` only. The global random generator is reseeded
 * before each micro-batch, from the seed, step and micro-batch index, so that dropout is
 * reproducible on resume.
 */
export class Trainer {
  private readonly options: ResolvedOptions;
  /** Taken once, so that a generator (model.namedParameters()) serves every call of `train`. */
  private readonly parameters: readonly (readonly [string, Tensor])[];

  constructor(
    private readonly model: CausalLM,
    parameters: ParameterSet,
    options: TrainerOptions = {},
  ) {
    this.options = resolveOptions(options);
    this.parameters = [...parameters];
  }

  async train(data: TrainData): Promise<TrainResult> {
    const options = this.options;
    const vocab = this.model.config.vocabSize;
    const train = usableExamples(data.train ?? [], vocab, 'train');
    if (train.examples.length === 0) {
      throw invalidArgument(
        'Trainer',
        `none of the ${data.train?.length ?? 0} training examples has a scored label`,
      );
    }
    const validation = data.validation
      ? usableExamples(data.validation, vocab, 'validation')
      : undefined;
    if (validation && validation.examples.length === 0) {
      throw invalidArgument('Trainer', 'none of the validation examples has a scored label');
    }
    if (options.earlyStoppingPatience !== undefined && !validation) {
      throw invalidArgument('Trainer', 'earlyStoppingPatience needs a validation set');
    }
    const plan = new BatchPlan(
      train.examples.length,
      options.batchSize,
      options.gradientAccumulationSteps,
      options.seed,
    );
    const run = new Run(
      this.model,
      this.parameters,
      options,
      plan,
      train.examples,
      validation?.examples,
    );
    try {
      const result = await run.execute();
      return {
        ...result,
        droppedExamples: { train: train.dropped, validation: validation?.dropped ?? 0 },
      };
    } finally {
      run.dispose();
    }
  }
}

/** One call of `train`: the optimizer, the masters and the progress of the run. */
class Run {
  private readonly params: TrainableParameters;
  private readonly optimizer: AdamW;
  private readonly scaler: DynamicLossScaler | undefined;
  private readonly staticScale: number;
  private readonly totalSteps: number;
  private readonly evalSteps: number;
  private readonly saveSteps: number;
  private readonly fingerprint: RunFingerprint;
  private readonly padId: number;
  private state: TrainerState;
  private bestParameters: Map<string, Tensor> | undefined;
  private trainTokens = 0;
  private trainSeconds = 0;
  private checkpoint: string | undefined;
  private readonly wasTraining: boolean;

  constructor(
    private readonly model: CausalLM,
    parameters: ParameterSet,
    private readonly options: ResolvedOptions,
    private readonly plan: BatchPlan,
    private readonly train: readonly TrainingExample[],
    private readonly validation: readonly TrainingExample[] | undefined,
  ) {
    this.totalSteps = options.maxSteps ?? Math.ceil(options.epochs * plan.stepsPerEpoch);
    this.evalSteps = options.evalSteps ?? plan.stepsPerEpoch;
    this.saveSteps = options.saveSteps ?? this.evalSteps;
    this.padId = paddingId(model);
    this.wasTraining = model.training;
    this.params = new TrainableParameters(parameters);
    const lossScale = options.lossScale ?? (this.params.hasF16 ? 'dynamic' : 1);
    this.scaler = lossScale === 'dynamic' ? new DynamicLossScaler(options.lossScaler) : undefined;
    this.staticScale = lossScale === 'dynamic' ? 1 : lossScale;
    this.optimizer = new AdamW(this.params.masters, {
      lr: options.learningRate,
      betas: options.adamBetas,
      eps: options.adamEpsilon,
      weightDecay: options.weightDecay,
      decays: (_name, parameter) => parameter.rank >= 2,
    });
    this.fingerprint = {
      seed: options.seed,
      batchSize: options.batchSize,
      gradientAccumulationSteps: options.gradientAccumulationSteps,
      trainExamples: train.length,
      trainHash: hashExamples(train),
      parameters: this.params.names.map((name) => {
        const t = this.params.stored.get(name)!;
        return `${name} [${t.shape.join(', ')}] ${t.dtype}`;
      }),
    };
    this.state = {
      format: 'slimlm-trainer',
      version: 1,
      step: 0,
      fingerprint: this.fingerprint,
      optimizerSteps: 0,
      lossScaler: this.scaler?.state() ?? null,
      best: null,
      evaluationsWithoutImprovement: 0,
      stoppedEarly: false,
      history: [],
      evaluations: [],
    };
  }

  async execute(): Promise<Omit<TrainResult, 'droppedExamples'>> {
    const resumedFrom = this.options.resume ? this.resume() : undefined;
    if (this.validation && this.state.evaluations.length === 0) await this.evaluate();
    while (this.state.step < this.totalSteps && !this.state.stoppedEarly) {
      const record = await this.step(this.state.step);
      this.state.step++;
      this.state.history.push(record);
      this.options.onProgress?.({
        kind: 'step',
        step: record.step,
        totalSteps: this.totalSteps,
        epoch: record.step / this.plan.stepsPerEpoch,
        loss: record.loss,
        lr: record.lr,
        gradNorm: record.gradNorm,
        tokensPerSecond: this.tokensPerSecond,
        skipped: record.skipped,
      });
      const last = this.state.step === this.totalSteps;
      if (this.validation && (last || this.state.step % this.evalSteps === 0))
        await this.evaluate();
      if (
        this.options.checkpointDir &&
        (last || this.state.stoppedEarly || this.state.step % this.saveSteps === 0)
      ) {
        this.save();
      }
    }
    const best = this.state.best ?? undefined;
    const lastEvaluation = this.state.evaluations.at(-1);
    let valLossAfter = lastEvaluation?.loss;
    if (best && this.options.restoreBest && this.bestParameters) {
      this.params.loadMasters(this.bestParameters);
      valLossAfter = best.loss;
    }
    return {
      steps: this.state.step,
      totalSteps: this.totalSteps,
      epochs: this.state.step / this.plan.stepsPerEpoch,
      history: this.state.history,
      evaluations: this.state.evaluations,
      ...(best ? { best } : {}),
      ...(this.state.evaluations[0] ? { valLossBefore: this.state.evaluations[0].loss } : {}),
      ...(valLossAfter !== undefined ? { valLossAfter } : {}),
      stoppedEarly: this.state.stoppedEarly,
      skippedSteps: this.state.history.filter((r) => r.skipped).length,
      ...(resumedFrom !== undefined ? { resumedFrom } : {}),
      trainTokens: this.trainTokens,
      tokensPerSecond: this.tokensPerSecond,
      ...(this.checkpoint ? { checkpoint: this.checkpoint } : {}),
    };
  }

  private get tokensPerSecond(): number {
    return this.trainSeconds > 0 ? this.trainTokens / this.trainSeconds : 0;
  }

  /** One optimizer step over the micro-batches of step `index` (0-based). */
  private async step(index: number): Promise<StepRecord> {
    const started = performance.now();
    const microBatches = this.plan.step(index).map((batch) => batch.map((i) => this.train[i]!));
    const targetTokens = microBatches.flat().reduce((n, e) => n + targetCount(e), 0);
    const scale = this.scaler?.scale ?? this.staticScale;
    let lossSum = 0;
    let tokens = 0;
    this.model.train();
    for (const [micro, examples] of microBatches.entries()) {
      manualSeed(deriveSeed(this.options.seed, DROPOUT_STREAM, index, micro));
      const batch = collate(examples, this.padId);
      const loss = scope(() => summedLoss(this.model, batch));
      try {
        lossSum += (await loss.data())[0]!;
        scope(() => {
          backward(loss, {
            gradient: full([], scale / targetTokens, { dtype: loss.dtype, backend: loss.backend }),
          });
        });
      } finally {
        loss.dispose();
        for (const t of [batch.inputIds, batch.targets, batch.attentionMask]) t?.dispose();
      }
      this.params.collectGradients();
      tokens += batch.tokens;
    }
    const grads = [...this.params.grads.values()];
    scaleGradients(grads, 1 / scale);
    const gradNorm = clipGradNorm(grads, this.options.maxGradNorm);
    const finite = Number.isFinite(gradNorm);
    const lr =
      this.options.learningRate *
      learningRateFactor(index, {
        type: this.options.lrScheduler,
        warmupSteps: this.options.warmupSteps,
        totalSteps: this.totalSteps,
      });
    if (finite) {
      this.optimizer.step(this.params.grads, lr);
      this.params.writeBack();
    }
    this.scaler?.update(finite);
    this.params.zeroGradients();
    this.trainTokens += tokens;
    this.trainSeconds += (performance.now() - started) / 1000;
    return {
      step: index + 1,
      loss: lossSum / targetTokens,
      lr,
      gradNorm,
      tokens,
      skipped: !finite,
    };
  }

  /** Scores the validation set and keeps the parameters when they are the best so far. */
  private async evaluate(): Promise<void> {
    const { loss } = await evaluateLoss(this.model, this.validation!, {
      batchSize: this.options.evalBatchSize,
    });
    const step = this.state.step;
    this.state.evaluations.push({ step, loss });
    const best = this.state.best;
    const improved = best === null || loss < best.loss - this.options.earlyStoppingThreshold;
    if (improved) {
      this.state.best = { step, loss };
      this.state.evaluationsWithoutImprovement = 0;
      this.replaceBest(this.params.snapshot());
    } else {
      this.state.evaluationsWithoutImprovement++;
      const patience = this.options.earlyStoppingPatience;
      if (patience !== undefined && this.state.evaluationsWithoutImprovement >= patience) {
        this.state.stoppedEarly = true;
      }
    }
    this.options.onProgress?.({
      kind: 'evaluation',
      step,
      totalSteps: this.totalSteps,
      valLoss: loss,
      best: improved,
    });
  }

  private replaceBest(parameters: Map<string, Tensor>): void {
    for (const t of this.bestParameters?.values() ?? []) t.dispose();
    this.bestParameters = parameters;
  }

  /** Saves the whole run (tensors and state) as a checkpoint. */
  private save(): void {
    this.state.optimizerSteps = this.optimizer.steps;
    this.state.lossScaler = this.scaler?.state() ?? null;
    const { expAvg, expAvgSq } = this.optimizer.state();
    const tensors: [string, Tensor][] = [];
    for (const name of this.params.names) {
      tensors.push([`master.${name}`, this.params.masters.get(name)!]);
      tensors.push([`exp_avg.${name}`, expAvg.get(name)!]);
      tensors.push([`exp_avg_sq.${name}`, expAvgSq.get(name)!]);
      const best = this.bestParameters?.get(name);
      if (best) tensors.push([`best.${name}`, best]);
    }
    this.checkpoint = saveCheckpoint(
      this.options.checkpointDir!,
      this.state.step,
      this.state,
      tensors,
    );
  }

  /** Loads the newest checkpoint, if any, and returns the step it was taken at. */
  private resume(): number | undefined {
    const path = latestCheckpoint(this.options.checkpointDir!);
    if (path === undefined) return undefined;
    const checkpoint = loadCheckpoint<TrainerState>(path);
    try {
      checkResumable(path, checkpoint.state, this.fingerprint);
      const read = (prefix: string) =>
        new Map(
          this.params.names.map((name) => [name, checkpoint.tensors.read(`${prefix}.${name}`)]),
        );
      scope(() => {
        this.params.loadMasters(read('master'));
        this.optimizer.loadState({
          step: checkpoint.state.optimizerSteps,
          expAvg: read('exp_avg'),
          expAvgSq: read('exp_avg_sq'),
        });
      });
      // Read outside a scope: the best parameters live on with the run.
      if (checkpoint.state.best) this.replaceBest(read('best'));
      if (checkpoint.state.lossScaler) this.scaler?.loadState(checkpoint.state.lossScaler);
      this.state = { ...checkpoint.state, fingerprint: this.fingerprint };
      this.checkpoint = path;
      return checkpoint.state.step;
    } finally {
      checkpoint.tensors.close();
    }
  }

  dispose(): void {
    this.replaceBest(new Map());
    this.optimizer.dispose();
    this.params.dispose();
    this.model.train(this.wasTraining);
  }
}
