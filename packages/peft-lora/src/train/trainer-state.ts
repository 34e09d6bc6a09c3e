import { SlimlmError } from '@slimlm/core';
import type { TrainingExample } from './batches';
import type { LossScalerState } from './loss-scaler';

/** One optimizer step as recorded in the history. */
export interface StepRecord {
  /** Optimizer steps done after this one (1-based). */
  step: number;
  /** Mean loss per scored token of the step's examples. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Real input tokens the step trained on. */
  tokens: number;
  /** The update was skipped because the gradients were not finite. */
  skipped: boolean;
}

/** One evaluation on the validation set; step 0 is before training. */
export interface EvaluationRecord {
  step: number;
  loss: number;
}

/**
 * What must match for a checkpoint to be resumed: anything that changes which examples a step
 * sees, or which tensors the saved state belongs to.
 */
export interface RunFingerprint {
  seed: number;
  batchSize: number;
  gradientAccumulationSteps: number;
  trainExamples: number;
  /** FNV-1a of every training example's ids and labels, in order. */
  trainHash: string;
  /** name, shape and stored dtype of every trainable parameter. */
  parameters: string[];
}

/** Everything of a run besides tensors, as `trainer_state.json` holds it. */
export interface TrainerState {
  format: 'slimlm-trainer';
  version: 1;
  step: number;
  fingerprint: RunFingerprint;
  optimizerSteps: number;
  lossScaler: LossScalerState | null;
  best: EvaluationRecord | null;
  evaluationsWithoutImprovement: number;
  stoppedEarly: boolean;
  history: StepRecord[];
  evaluations: EvaluationRecord[];
}

/** FNV-1a (32-bit) of the examples' lengths, ids and labels. */
export function hashExamples(examples: readonly TrainingExample[]): string {
  let h = 0x811c9dc5;
  const mix = (value: number) => {
    h = Math.imul(h ^ (value & 0xffff), 0x01000193);
    h = Math.imul(h ^ (value >>> 16), 0x01000193);
  };
  for (const { inputIds, labels } of examples) {
    mix(inputIds.length);
    for (const id of inputIds) mix(id);
    for (const label of labels) mix(label);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Throws INVALID_CONFIG naming the first field where the checkpoint's run differs from this one. */
export function checkResumable(path: string, saved: TrainerState, current: RunFingerprint): void {
  if (saved.format !== 'slimlm-trainer' || saved.version !== 1) {
    throw new SlimlmError('INVALID_FILE', `${path}: not a slimlm trainer checkpoint of version 1`);
  }
  for (const key of Object.keys(current) as (keyof RunFingerprint)[]) {
    const was = JSON.stringify(saved.fingerprint?.[key]);
    const now = JSON.stringify(current[key]);
    if (was !== now) {
      throw new SlimlmError(
        'INVALID_CONFIG',
        `${path}: the checkpoint was made with ${key} ${was}, this run has ${now}; resume with the same data and settings, or use another checkpointDir`,
      );
    }
  }
}
