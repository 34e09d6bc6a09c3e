/**
 * @slimlm/peft-lora: LoRA layers on fp or quantized linears, PEFT-format adapters, merging, and a
 * generic trainer (AdamW, schedules, accumulation, clipping, checkpoints) for any CausalLM.
 */

// LoRA layers and adapters

export type { InjectedAdapter, InjectOptions, TrainableOptions } from './lora/adapters';
export {
  activeAdapters,
  adapterConfig,
  adapterConfigs,
  adapterParameters,
  deleteAdapter,
  disableAdapters,
  enableAdapters,
  injectLora,
  loraLayers,
  setAdapter,
  trainableParameters,
} from './lora/adapters';
export type { LoraBias, LoraConfig, LoraInit, TargetModules } from './lora/config';
export { loraScaling, resolveLoraConfig } from './lora/config';
export type { AdapterSettings } from './lora/lora-linear';
export { LoraLinear } from './lora/lora-linear';
export { matchesTargets, minimalTargetModules, selectTargets } from './lora/targets';

// PEFT format

export { adapterConfigJson, parseAdapterConfig } from './peft/adapter-config';
export type { AdapterFile, AdapterModule, LoadAdapterOptions } from './peft/load-adapter';
export { applyAdapter, loadAdapter, readAdapter } from './peft/load-adapter';
export type { SaveAdapterOptions } from './peft/save-adapter';
export { saveAdapter } from './peft/save-adapter';

// merging

export { dequantizeModel } from './merge/dequantize';
export type { MergeOptions, MergeSummary } from './merge/merge-adapter';
export { mergeAdapter } from './merge/merge-adapter';
export type { SaveMergedOptions, SaveMergedResult } from './merge/save-merged';
export { saveMergedModel } from './merge/save-merged';

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
