/**
 * @slimlm/peft-lora: LoRA layers on fp or quantized linears, PEFT-format adapters, merging, and a
 * generic trainer (AdamW, schedules, accumulation, clipping, checkpoints) for any CausalLM.
 */

// Training
export type { AdamWOptions, AdamWState } from './train/adamw';
export { AdamW } from './train/adamw';
export type { CollatedBatch, TrainingExample } from './train/batches';
export { collate, IGNORE_INDEX } from './train/batches';
export type { EvaluateLossOptions, EvaluateLossResult } from './train/causal-lm-loss';
export { evaluateLoss, summedLoss } from './train/causal-lm-loss';
export { clipGradNorm, globalGradNorm } from './train/clip-grad-norm';
export type { LossScalerOptions, LossScalerState } from './train/loss-scaler';
export { DynamicLossScaler } from './train/loss-scaler';
export type { TrainerOptions, TrainProgress } from './train/options';
export type { LrScheduleOptions, LrSchedulerType } from './train/schedules';
export { LR_SCHEDULER_TYPES, learningRateFactor } from './train/schedules';
export type { ParameterSet } from './train/trainable-parameters';
export type { TrainData, TrainResult } from './train/trainer';
export { Trainer } from './train/trainer';
export type { EvaluationRecord, StepRecord } from './train/trainer-state';
