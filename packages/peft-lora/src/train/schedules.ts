import { invalidArgument } from './check';

/** The learning-rate schedules of transformers' `get_scheduler`, all with linear warmup. */
export type LrSchedulerType = 'linear' | 'cosine' | 'constant';

export const LR_SCHEDULER_TYPES: readonly LrSchedulerType[] = ['linear', 'cosine', 'constant'];

export interface LrScheduleOptions {
  type: LrSchedulerType;
  /** Steps over which the factor rises linearly from 0 to 1. */
  warmupSteps: number;
  /** Optimizer steps of the whole run; linear and cosine reach 0 there. */
  totalSteps: number;
}

/**
 * The factor that multiplies the base learning rate for optimizer step `step` (0-based), exactly
 * as transformers' LambdaLR schedules compute it (get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup with half a cycle, get_constant_schedule_with_warmup). As
 * there, the first update of a run with warmup uses factor 0.
 */
export function learningRateFactor(step: number, options: LrScheduleOptions): number {
  const { type, warmupSteps, totalSteps } = options;
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (type === 'constant') return 1;
  if (type === 'linear')
    return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Throws naming `what` unless `type` is a known schedule. */
export function checkLrSchedulerType(type: string, what: string): asserts type is LrSchedulerType {
  if (!LR_SCHEDULER_TYPES.includes(type as LrSchedulerType)) {
    throw invalidArgument(
      what,
      `lrScheduler must be one of ${LR_SCHEDULER_TYPES.join(', ')}, got '${type}'`,
    );
  }
}
